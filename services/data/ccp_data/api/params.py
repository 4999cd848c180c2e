"""Query parameters shared by the stats and usage endpoints; each bad value is a InvalidRequest."""

from __future__ import annotations

import time

from starlette.requests import Request

from ccp_data.rollups import GRANULARITIES
from ccp_data.timeparse import parse_range
from ccp_shared.errors import InvalidRequest

# Series are capped so one request cannot ask for millions of empty points.
MAX_POINTS = 10_000


def text(request: Request, name: str) -> str | None:
    """A filter value; absent and empty both mean "no filter"."""
    value = request.query_params.get(name)
    return value if value else None


def time_range(request: Request, *, default_span: float) -> tuple[float, float]:
    """``(since, until)`` in unix seconds; ``until`` defaults to now, ``since`` to a span before."""
    now = time.time()
    since, until = parse_range(
        text(request, "since"), text(request, "until"), now=now, default_span=default_span
    )
    assert since is not None  # a default span is always given
    if until is None and since > now:
        # Here until is now, so a later since makes a range that ends before it starts (the
        # list filters take a later since as given: it matches nothing, or a clock ahead).
        raise InvalidRequest("since: must not be after until (now, when until is not given)")
    return since, (now if until is None else until)


def granularity(request: Request, *, default: str = "hour") -> str:
    value = text(request, "granularity") or default
    if value not in GRANULARITIES:
        raise InvalidRequest(f"granularity: expected hour or day, got {value!r}")
    return value


def check_points(granularity: str, since: float, until: float) -> None:
    if (until - since) / GRANULARITIES[granularity] > MAX_POINTS:
        raise InvalidRequest(
            f"since/until: more than {MAX_POINTS} {granularity}s; narrow the range"
            + (" or use granularity=day" if granularity == "hour" else "")
        )
