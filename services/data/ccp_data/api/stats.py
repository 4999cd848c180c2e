"""``/api/stats``, ``/api/stats/hourly``, ``/api/stats/models``: usage read from the rollups."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccp_data.api import params
from ccp_data.jsonresponse import ORJSONResponse
from ccp_data.queries import stats as queries
from ccp_data.window import key_label

DEFAULT_SPAN = 86400.0


async def stats(request: Request) -> Response:
    """Totals over since/until (default the last 24 h), and per provider."""
    since, until = params.time_range(request, default_span=DEFAULT_SPAN)
    start, end = queries.aligned(since, until)
    body = await request.app.state.db.read(
        queries.totals,
        start,
        end,
        model=params.text(request, "model"),
        provider=params.text(request, "provider"),
    )
    body["providers"] = {key_label(name): w for name, w in body["providers"].items()}
    return ORJSONResponse({"since": since, "until": until, **body, "ts": time.time()})


async def hourly(request: Request) -> Response:
    """A series of hour (or ``granularity=day``) windows, empty ones included."""
    granularity = params.granularity(request)
    since, until = params.time_range(request, default_span=DEFAULT_SPAN)
    params.check_points(granularity, since, until)
    start, end = queries.aligned(since, until)
    body = await request.app.state.db.read(
        queries.series,
        granularity,
        start,
        end,
        model=params.text(request, "model"),
        provider=params.text(request, "provider"),
    )
    return ORJSONResponse({"since": since, "until": until, **body, "ts": time.time()})


async def models(request: Request) -> Response:
    """Totals per model over since/until, busiest first."""
    since, until = params.time_range(request, default_span=DEFAULT_SPAN)
    start, end = queries.aligned(since, until)
    body = await request.app.state.db.read(
        queries.by_model, start, end, provider=params.text(request, "provider")
    )
    pricing = request.app.state.pricing
    for entry in body["models"]:
        entry["priced"] = entry["model"] in pricing
        entry["model"] = key_label(entry["model"])
    return ORJSONResponse({"since": since, "until": until, **body, "ts": time.time()})


routes = [
    Route("/api/stats", stats, methods=["GET"]),
    Route("/api/stats/hourly", hourly, methods=["GET"]),
    Route("/api/stats/models", models, methods=["GET"]),
]
