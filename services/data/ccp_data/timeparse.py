"""``since``/``until`` parameters: ISO-8601, unix seconds, or a span ago such as ``24h``.

Pure functions; ``now`` is passed in so tests are exact. Every malformed value is a InvalidRequest
naming the parameter.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from ccp_shared.errors import InvalidRequest

_SPAN = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(s|m|h|d|w)$")
_SPAN_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# Unix times beyond this are taken to be milliseconds (JavaScript's Date.now()).
_MS_THRESHOLD = 1e11
_MAX_SECONDS = 253402300799.0  # 9999-12-31T23:59:59Z


def parse_time(raw: str, *, name: str, now: float) -> float:
    """Unix seconds for ``raw``: ``1767225600``, ``2026-01-01T10:00:00Z``, ``6h`` (ago).

    Every form must land in 1970-01-01 .. 9999-12-31: a huge span or number would otherwise
    become inf (and NaN in arithmetic on it) deep inside a query.
    """
    value = _parse(raw, name=name, now=now)
    if not (math.isfinite(value) and 0.0 <= value <= _MAX_SECONDS):
        raise InvalidRequest(f"{name}: {raw!r} is out of range (1970-01-01 to 9999-12-31)")
    return value


def _parse(raw: str, *, name: str, now: float) -> float:
    text = raw.strip()
    if not text:
        raise InvalidRequest(f"{name}: empty; give ISO-8601, unix seconds, or a span such as 24h")
    if text == "now":
        return now
    span = _SPAN.match(text)
    if span:
        return now - float(span.group(1)) * _SPAN_SECONDS[span.group(2)]
    try:
        number = float(text)
    except ValueError:
        return _parse_iso(text, name)
    if not math.isfinite(number) or number < 0:
        raise InvalidRequest(f"{name}: {raw!r} is not a time")
    return number / 1000.0 if number > _MS_THRESHOLD else number


def _parse_iso(text: str, name: str) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidRequest(
            f"{name}: {text!r} is not a time; give ISO-8601 (2026-01-01T10:00:00Z), "
            "unix seconds, or a span such as 24h"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # timestamps without a zone are UTC, like the DB
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):
        raise InvalidRequest(f"{name}: {text!r} is out of range") from None


def parse_range(
    since: str | None,
    until: str | None,
    *,
    now: float,
    default_span: float | None = 86400.0,
) -> tuple[float | None, float | None]:
    """``(since, until)``; a missing ``since`` is ``until - default_span`` (or open when None)."""
    end = parse_time(until, name="until", now=now) if until is not None else None
    if since is not None:
        start: float | None = parse_time(since, name="since", now=now)
    elif default_span is not None:
        start = (end if end is not None else now) - default_span
    else:
        start = None
    if start is not None and end is not None and start > end:
        raise InvalidRequest("since: must not be after until")
    return start, end
