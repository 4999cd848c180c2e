"""Rollups: usage, cost and latency per hour and per day, per model and provider.

Incremental: a pass reads the requests after its watermark (``requests.seq``), aggregates them
per touched window and merges those deltas into the stored hour and day rows; the rows, the
all-model points of the touched windows (``ccp_data.series``) and the new watermark are written
in one short ``BEGIN IMMEDIATE`` transaction, so each request is counted exactly once across
crashes and restarts. The watermark is re-read inside the transaction: if
another pass (a second proxy-data during a restart) got there first, this one writes nothing.

Idempotent: every additive figure is an integer (cost in billionths of a USD, generation time in
ms) and latencies are mergeable sketches, so windows built batch by batch are *equal* to windows
recomputed from scratch (``rebuild``), whatever the batch boundaries. A busy hour costs a pass only
its new requests, never a rescan of the hour.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

from ccp_data import series
from ccp_data.db import transaction
from ccp_data.pricing import PriceTable
from ccp_data.window import Window

HOUR = 3600
DAY = 86400
GRANULARITIES = {"hour": HOUR, "day": DAY}
WATERMARK_NAME = "rollups"
# Only inference is usage; count_tokens and model listings would distort tokens and cost.
INFERENCE_PATH = "/v1/messages"

_COLUMNS = (
    "granularity",
    "window_start",
    "model",
    "provider",
    "requests",
    "errors",
    "client_closed",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "cost_nanos",
    "cost_unknown",
    "gen_output_tokens",
    "gen_ms",
    "ttft_sketch",
    "duration_sketch",
    "updated_at",
)
_UPSERT = (
    f"INSERT OR REPLACE INTO rollups ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_NEW_REQUESTS = (
    "SELECT seq, ts_start, path, status, model, provider, input_tokens, output_tokens, "
    "cache_read_input_tokens, cache_creation_input_tokens, cache_creation_5m_tokens, "
    "cache_creation_1h_tokens, ttft_ms, duration_ms FROM requests WHERE seq > ? ORDER BY seq "
    "LIMIT ?"
)


def floor_to(ts: float, seconds: int) -> int:
    return int(ts // seconds) * seconds


def read_watermark(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM indexer_state WHERE name = ?", (WATERMARK_NAME,)).fetchone()
    return int(row[0]) if row else 0


def _write_watermark(conn: sqlite3.Connection, seq: int, now: float) -> None:
    conn.execute(
        "INSERT INTO indexer_state (name, seq, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        (WATERMARK_NAME, seq, now),
    )


def deltas(
    rows: Iterable[sqlite3.Row], pricing: PriceTable, *, hourly_kept_from: int
) -> dict[tuple[str, int, str, str], Window]:
    """The windows of these requests: ``(granularity, start, model, provider)`` → aggregate.

    Each request is priced and counted once, into its hour; days are the merge of their hours
    (exact, see ``Window.merge``). Hours older than the hourly retention only feed their day
    (their hour row would be deleted).
    """
    hours: dict[tuple[int, str, str], Window] = {}
    for row in rows:
        if row["path"] != INFERENCE_PATH:
            continue
        key = (floor_to(row["ts_start"], HOUR), row["model"] or "", row["provider"] or "")
        window = hours.get(key)
        if window is None:
            window = hours[key] = Window()
        window.add_request(row, pricing)
    windows: dict[tuple[str, int, str, str], Window] = {}
    for (hour, model, provider), window in hours.items():
        day = ("day", floor_to(hour, DAY), model, provider)
        if day not in windows:
            windows[day] = Window()
        windows[day].merge(window)
        if hour >= hourly_kept_from:
            windows[("hour", hour, model, provider)] = window
    return windows


def _stored(conn: sqlite3.Connection, key: tuple[str, int, str, str]) -> Window | None:
    cursor = conn.execute(
        "SELECT * FROM rollups WHERE granularity = ? AND window_start = ? AND model = ? "
        "AND provider = ?",
        key,
    )
    cursor.row_factory = sqlite3.Row
    row = cursor.fetchone()
    return Window.from_row(row) if row else None


def run_once(
    conn: sqlite3.Connection,
    pricing: PriceTable,
    *,
    batch_size: int = 5000,
    retention_days: int = 30,
    now: float | None = None,
) -> int:
    """Roll up the next batch of requests after the watermark; how many requests it consumed."""
    now = time.time() if now is None else now
    watermark = read_watermark(conn)
    cursor = conn.execute(_NEW_REQUESTS, (watermark, batch_size))
    cursor.row_factory = sqlite3.Row
    new = cursor.fetchall()
    if not new:
        return 0
    hourly_kept_from = floor_to(now, HOUR) - retention_days * DAY
    windows = deltas(new, pricing, hourly_kept_from=hourly_kept_from)
    # Merged outside the write lock; the watermark check below proves nobody changed them since.
    for key, delta in windows.items():
        stored = _stored(conn, key)
        if stored is not None:
            stored.merge(delta)
            windows[key] = stored
    rows = [window.to_row(key[0], key[1:], now) for key, window in windows.items()]
    points = series.touched_points(conn, windows, now)
    with transaction(conn):
        if read_watermark(conn) != watermark:
            return 0  # another pass rolled these up first
        conn.executemany(_UPSERT, rows)
        conn.executemany(series.UPSERT, points)
        _write_watermark(conn, new[-1]["seq"], now)
    return len(new)


def rebuild(
    conn: sqlite3.Connection,
    pricing: PriceTable,
    *,
    retention_days: int = 30,
    now: float | None = None,
) -> int:
    """Recompute every rollup from the requests (after a pricing change, say)."""
    with transaction(conn):
        conn.execute("DELETE FROM rollups")
        conn.execute("DELETE FROM rollup_series")
        _write_watermark(conn, 0, time.time())
    total = 0
    while done := run_once(conn, pricing, retention_days=retention_days, now=now):
        total += done
    return total


def apply_retention(
    conn: sqlite3.Connection, retention_days: int, *, now: float | None = None, batch: int = 500
) -> int:
    """Delete hourly rows older than the retention, in small transactions; returns the count
    of ``rollups`` rows deleted (their series points go with them)."""
    now = time.time() if now is None else now
    cutoff = floor_to(now, HOUR) - retention_days * DAY
    _delete_old_hours(conn, "rollup_series", "granularity, window_start", cutoff, batch)
    return _delete_old_hours(conn, "rollups", _KEY, cutoff, batch)


_KEY = "granularity, window_start, model, provider"


def _delete_old_hours(
    conn: sqlite3.Connection, table: str, key: str, cutoff: int, batch: int
) -> int:
    deleted = 0
    while True:
        with transaction(conn):
            cursor = conn.execute(
                f"DELETE FROM {table} WHERE ({key}) IN ("
                f"SELECT {key} FROM {table} WHERE granularity = 'hour' AND window_start < ? "
                "LIMIT ?)",
                (cutoff, batch),
            )
        deleted += cursor.rowcount
        if cursor.rowcount < batch:
            return deleted
