"""Per-window totals across every model and provider, stored ready to serve.

``/api/stats/hourly`` over 30 days is 720 points; building each from its per-model rows (decode
sketches, merge them, compute percentiles) costs tens of milliseconds per call. The rollup pass
already holds the windows it touched, so it also stores each touched window's all-model total as
the JSON point the series returns, and the API splices the stored points into its answer. The
``rollups`` rows stay the source of truth: a point is a pure function of them (``point``), and
``rollups.rebuild`` (``ccp db rebuild-rollups``) recomputes both — which is also what a change
to the shape of ``Window.summary`` needs, since stored points keep the shape they were built with.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

import orjson

from ccp_data.window import Window

RollupKey = tuple[str, int, str, str]  # (granularity, window_start, model, provider)
SeriesRow = tuple[str, int, str, float]  # (granularity, window_start, point, updated_at)

UPSERT = (
    "INSERT OR REPLACE INTO rollup_series (granularity, window_start, point, updated_at) "
    "VALUES (?, ?, ?, ?)"
)


def point(window_start: int, window: Window) -> str:
    """The series point of one window, as the API serves it."""
    return orjson.dumps({"window_start": window_start, **window.summary()}).decode()


def _stored_windows(conn: sqlite3.Connection, granularity: str, start: int) -> list[sqlite3.Row]:
    cursor = conn.execute(
        "SELECT * FROM rollups WHERE granularity = ? AND window_start = ?", (granularity, start)
    )
    cursor.row_factory = sqlite3.Row
    return cursor.fetchall()


def touched_points(
    conn: sqlite3.Connection, merged: Mapping[RollupKey, Window], now: float
) -> list[SeriesRow]:
    """The points of every window in ``merged`` (new per-model rows, not written yet), each
    totalled with the stored rows of the models and providers this batch did not touch."""
    out: list[SeriesRow] = []
    for granularity, start in sorted({key[:2] for key in merged}):
        total = Window()
        for row in _stored_windows(conn, granularity, start):
            if (granularity, start, row["model"], row["provider"]) not in merged:
                total.merge(Window.from_row(row))
        for key, window in merged.items():
            if key[:2] == (granularity, start):
                total.merge(window)
        out.append((granularity, start, point(start, total), now))
    return out


def read_points(
    conn: sqlite3.Connection, granularity: str, start: int, end: int
) -> dict[int, orjson.Fragment]:
    """Stored points of the windows in [start, end) that have traffic, by window start."""
    cursor = conn.execute(
        "SELECT window_start, point FROM rollup_series "
        "WHERE granularity = ? AND window_start >= ? AND window_start < ?",
        (granularity, start, end),
    )
    return {int(ts): orjson.Fragment(text) for ts, text in cursor}
