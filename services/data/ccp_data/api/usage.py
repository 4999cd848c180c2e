"""``/v1/usage*``: usage for tools that poll the gateway (totals, per-request samples, rollups)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccp_data.api import params
from ccp_data.jsonresponse import ORJSONResponse
from ccp_data.pagination import parse_limit
from ccp_data.queries import stats as stats_queries
from ccp_data.queries import usage as usage_queries
from ccp_data.timeparse import parse_time
from ccp_data.window import key_label

SAMPLES_SPAN = 3600.0
SAMPLES_LIMIT = 1000
SAMPLES_MAX = 10_000
ROLLUP_SPANS = {"hour": 86400.0, "day": 30 * 86400.0}


async def usage(request: Request) -> Response:
    """Totals and per-model usage over since/until (default the last 24 h)."""
    since, until = params.time_range(request, default_span=86400.0)
    start, end = stats_queries.aligned(since, until)
    body = await request.app.state.db.read(stats_queries.by_model, start, end)
    body["models"] = {key_label(entry.pop("model")): entry for entry in body["models"]}
    return ORJSONResponse({"since": since, "until": until, **body, "ts": time.time()})


async def samples(request: Request) -> Response:
    """One entry per request since ``since`` (default 1 h ago), grouped by model, oldest first."""
    now = time.time()
    raw_since = params.text(request, "since")
    since = parse_time(raw_since, name="since", now=now) if raw_since else now - SAMPLES_SPAN
    raw_until = params.text(request, "until")
    until = parse_time(raw_until, name="until", now=now) if raw_until else None
    limit = parse_limit(
        request.query_params.get("limit"), default=SAMPLES_LIMIT, maximum=SAMPLES_MAX
    )
    body = await request.app.state.db.read(
        usage_queries.samples,
        since,
        until,
        limit,
        request.app.state.pricing,
        model=params.text(request, "model"),
    )
    return ORJSONResponse({"since": since, **body, "ts": now})


def _rollup_point(point: dict[str, Any]) -> dict[str, Any]:
    # Short names for polling clients, beside the full summary.
    return {
        "window_start": point["window_start"],
        "count": point["requests"],
        "in_tokens": point["input_tokens"],
        "out_tokens": point["output_tokens"],
        **point,
    }


async def rollups(request: Request) -> Response:
    """Windows of ``granularity=hour|day`` per model since ``since``."""
    granularity = params.granularity(request)
    since, until = params.time_range(request, default_span=ROLLUP_SPANS[granularity])
    params.check_points(granularity, since, until)
    models = await request.app.state.db.read(
        stats_queries.per_model_series,
        granularity,
        int(since),
        int(until) + 1,
        model=params.text(request, "model"),
    )
    return ORJSONResponse(
        {
            "granularity": granularity,
            "since": since,
            "until": until,
            "models": {
                key_label(name): [_rollup_point(p) for p in points]
                for name, points in models.items()
            },
            "ts": time.time(),
        }
    )


routes = [
    Route("/v1/usage", usage, methods=["GET"]),
    Route("/v1/usage/samples", samples, methods=["GET"]),
    Route("/v1/usage/rollups", rollups, methods=["GET"]),
]
