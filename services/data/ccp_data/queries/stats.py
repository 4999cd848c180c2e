"""Usage statistics read from the rollups (never from raw requests or bodies).

A time range is answered from whole days where it covers them and from hours at its edges, so
30 days cost ~30 day rows per model instead of 720 hour rows. An unfiltered series serves the
all-model points the rollup pass stored (``ccp_data.series``) instead of merging models per
call. Windows are UTC-aligned: the range actually summed (``since`` rounded down, ``until``
rounded up to the hour) is reported back.
"""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from ccp_data import series as stored_series
from ccp_data.rollups import DAY, GRANULARITIES, HOUR, floor_to
from ccp_data.window import Window

Segment = tuple[str, int, int]  # (granularity, start, end)


def ceil_to(ts: float, seconds: int) -> int:
    return math.ceil(ts / seconds) * seconds


def aligned(since: float | None, until: float) -> tuple[int, int]:
    return floor_to(since or 0.0, HOUR), ceil_to(until, HOUR)


def plan(start: int, end: int) -> list[Segment]:
    """Day rows for the whole UTC days inside [start, end), hour rows for the edges."""
    first_day, last_day = ceil_to(start, DAY), floor_to(end, DAY)
    if first_day >= last_day:
        return [("hour", start, end)] if start < end else []
    segments = [("hour", start, first_day), ("day", first_day, last_day), ("hour", last_day, end)]
    return [s for s in segments if s[1] < s[2]]


def _rows(
    conn: sqlite3.Connection, segment: Segment, model: str | None, provider: str | None
) -> list[sqlite3.Row]:
    sql = "SELECT * FROM rollups WHERE granularity = ? AND window_start >= ? AND window_start < ?"
    params: list[Any] = list(segment)
    if model is not None:
        sql += " AND model = ?"
        params.append(model)
    if provider is not None:
        sql += " AND provider = ?"
        params.append(provider)
    cursor = conn.execute(sql, params)
    cursor.row_factory = sqlite3.Row
    return cursor.fetchall()


def range_rows(
    conn: sqlite3.Connection,
    start: int,
    end: int,
    *,
    model: str | None = None,
    provider: str | None = None,
) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = []
    for segment in plan(start, end):
        rows.extend(_rows(conn, segment, model, provider))
    return rows


def _add(windows: dict[Any, Window], key: Any, row: sqlite3.Row) -> None:
    # The first window of a key is kept as the accumulator: no copy of its sketches.
    window = Window.from_row(row)
    if key in windows:
        windows[key].merge(window)
    else:
        windows[key] = window


def _range(start: int, end: int) -> dict[str, int]:
    return {"since": start, "until": end}


def _breakdown(rows: list[sqlite3.Row], column: str) -> tuple[Window, dict[str, Window]]:
    groups: dict[str, Window] = {}
    for row in rows:
        _add(groups, row[column], row)
    total = Window()
    for window in groups.values():
        total.merge(window)
    return total, groups


def totals(
    conn: sqlite3.Connection,
    start: int,
    end: int,
    *,
    model: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Totals over the range and the same broken down by provider."""
    rows = range_rows(conn, start, end, model=model, provider=provider)
    total, providers = _breakdown(rows, "provider")
    return {
        "range": _range(start, end),
        "totals": total.summary(),
        "providers": {name: w.summary() for name, w in sorted(providers.items())},
    }


def by_model(
    conn: sqlite3.Connection, start: int, end: int, *, provider: str | None = None
) -> dict[str, Any]:
    """Totals over the range and per model, busiest model first."""
    total, models = _breakdown(range_rows(conn, start, end, provider=provider), "model")
    ranked = sorted(models.items(), key=lambda item: (-item[1].requests, item[0]))
    return {
        "range": _range(start, end),
        "totals": total.summary(),
        "models": [{"model": name, **window.summary()} for name, window in ranked],
    }


def series(
    conn: sqlite3.Connection,
    granularity: str,
    start: int,
    end: int,
    *,
    model: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """One point per window of ``granularity`` in the range, empty windows included."""
    step = GRANULARITIES[granularity]
    start, end = floor_to(start, step), ceil_to(end, step)
    points: Mapping[int, Any]
    if model is None and provider is None:
        points = stored_series.read_points(conn, granularity, start, end)
    else:
        points = _filtered_points(conn, (granularity, start, end), model, provider)
    return {
        "granularity": granularity,
        "range": _range(start, end),
        "series": [points[ts] if ts in points else _empty(ts) for ts in range(start, end, step)],
    }


def _filtered_points(
    conn: sqlite3.Connection, segment: Segment, model: str | None, provider: str | None
) -> dict[int, dict[str, Any]]:
    windows: dict[int, Window] = {}
    for row in _rows(conn, segment, model, provider):
        _add(windows, row["window_start"], row)
    return {ts: {"window_start": ts, **w.summary()} for ts, w in windows.items()}


def per_model_series(
    conn: sqlite3.Connection, granularity: str, start: int, end: int, *, model: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``{model: [window, ...]}`` for windows with traffic (providers merged)."""
    step = GRANULARITIES[granularity]
    start, end = floor_to(start, step), ceil_to(end, step)
    grouped: dict[str, dict[int, Window]] = defaultdict(dict)
    for row in _rows(conn, (granularity, start, end), model, None):
        _add(grouped[row["model"]], row["window_start"], row)
    return {
        name: [{"window_start": ts, **w.summary()} for ts, w in sorted(windows.items())]
        for name, windows in sorted(grouped.items())
    }


_EMPTY = Window().summary()


def _empty(ts: int) -> dict[str, Any]:
    return {"window_start": ts, **_EMPTY}
