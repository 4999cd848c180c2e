"""``/api/requests``, ``/api/requests/summary``, ``/api/requests/{id}``: recorded requests."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccp_data.api import params
from ccp_data.classify import CLASSES
from ccp_data.cost import cost_of
from ccp_data.jsonresponse import ORJSONResponse
from ccp_data.pagination import decode_cursor, encode_cursor, parse_limit
from ccp_data.pricing import PriceTable
from ccp_data.queries import requests as queries
from ccp_data.timeparse import parse_range
from ccp_shared.errors import InvalidRequest, NotFound
from ccp_shared.records import STATUSES

MAX_ID_LENGTH = 200
SUMMARY_SPAN = 86400.0


def request_filter(request: Request, *, default_span: float | None = None) -> queries.RequestFilter:
    status = params.text(request, "status")
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
    cls = params.text(request, "class")
    if cls is not None and cls not in CLASSES:
        raise InvalidRequest(f"class: expected one of {', '.join(CLASSES)}, got {cls!r}")
    since, until = parse_range(
        params.text(request, "since"),
        params.text(request, "until"),
        now=time.time(),
        default_span=default_span,
    )
    return queries.RequestFilter(
        model=params.text(request, "model"),
        status=status,
        session=params.text(request, "session"),
        cls=cls,
        since=since,
        until=until,
    )


def with_cost(item: dict[str, Any], pricing: PriceTable) -> dict[str, Any]:
    cost = cost_of(pricing, item["model"], item)
    item["cost_usd"] = cost
    item["cost_known"] = cost is not None
    return item


async def list_requests(request: Request) -> Response:
    """Requests, newest first; filters model, status, session, class, since, until."""
    f = request_filter(request)
    limit = parse_limit(params.text(request, "limit"))
    after = decode_cursor(params.text(request, "cursor"), (float, int))
    items, next_key = await request.app.state.db.read(queries.list_requests, f, after, limit)
    pricing = request.app.state.pricing
    return ORJSONResponse(
        {
            "requests": [with_cost(item, pricing) for item in items],
            "next_cursor": encode_cursor(next_key) if next_key else None,
        }
    )


async def summary(request: Request) -> Response:
    """Counts by status, class and model of the requests the same filters select; without
    ``since``, the last 24 hours (as /api/stats), so the count stays a bounded index walk."""
    f = request_filter(request, default_span=SUMMARY_SPAN)
    body = await request.app.state.db.read(queries.summary, f)
    return ORJSONResponse({"since": f.since, "until": f.until, **body})


async def detail(request: Request) -> Response:
    """One request: masked headers, bodies, reassembled response, timings, tokens, cost."""
    request_id = request.path_params["request_id"]
    if len(request_id) > MAX_ID_LENGTH or not request_id.isprintable():
        raise InvalidRequest("id: not a request id")
    item = await request.app.state.db.read(queries.get_request, request_id)
    if item is None:
        raise NotFound(f"no request with id {request_id!r}")
    return ORJSONResponse(with_cost(item, request.app.state.pricing))


routes = [
    Route("/api/requests", list_requests, methods=["GET"]),
    Route("/api/requests/summary", summary, methods=["GET"]),
    Route("/api/requests/{request_id}", detail, methods=["GET"]),
]
