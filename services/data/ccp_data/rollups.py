"""Rollups: usage, cost and latency per hour and per day, per model and provider.

Incremental: a pass reads the requests after its watermark (``requests.seq``), aggregates them
per touched window, merges those deltas into the stored hour and day rows and moves the watermark,
all in one short ``BEGIN IMMEDIATE`` transaction, so each request is counted exactly once across
crashes and restarts. The watermark is re-read inside the transaction: if another pass (a second
proxy-data during a restart) got there first, this one writes nothing.

Idempotent: every additive figure is an integer (cost in billionths of a USD, generation time in
ms) and latencies are mergeable sketches, so windows built batch by batch are *equal* to windows
recomputed from scratch (``rebuild``), whatever the batch boundaries. A busy hour costs a pass only
its new requests, never a rescan of the hour.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccp_data.cost import cost_of
from ccp_data.db import transaction
from ccp_data.pricing import PriceTable
from ccp_data.sketch import Sketch, percentiles
from ccp_shared.records import STATUS_CLIENT_CLOSED, STATUS_OK

HOUR = 3600
DAY = 86400
GRANULARITIES = {"hour": HOUR, "day": DAY}
WATERMARK_NAME = "rollups"
# Only inference is usage; count_tokens and model listings would distort tokens and cost.
INFERENCE_PATH = "/v1/messages"

WindowKey = tuple[int, str, str]  # (window_start, model, provider)

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
_NANOS = 1_000_000_000


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def floor_to(ts: float, seconds: int) -> int:
    return int(ts // seconds) * seconds


@dataclass(slots=True)
class Window:
    """The aggregate of some requests; ``merge`` of two windows is the window of their union."""

    requests: int = 0
    errors: int = 0
    client_closed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cost_nanos: int = 0
    cost_unknown: int = 0
    gen_output_tokens: int = 0
    gen_ms: int = 0
    ttft: Sketch = field(default_factory=Sketch)
    duration: Sketch = field(default_factory=Sketch)

    def add_request(self, row: Mapping[str, Any] | sqlite3.Row, pricing: PriceTable) -> None:
        self.requests += 1
        status = row["status"]
        if status == STATUS_CLIENT_CLOSED:
            self.client_closed += 1
        elif status != STATUS_OK:
            self.errors += 1
        output = _int(row["output_tokens"])
        self.input_tokens += _int(row["input_tokens"])
        self.output_tokens += output
        self.cache_read_tokens += _int(row["cache_read_input_tokens"])
        write_1h = _int(row["cache_creation_1h_tokens"])
        self.cache_write_tokens += max(
            _int(row["cache_creation_input_tokens"]),
            write_1h + _int(row["cache_creation_5m_tokens"]),
        )
        self.cache_write_1h_tokens += write_1h
        cost = cost_of(pricing, row["model"], row)
        if cost is None:
            self.cost_unknown += 1
        else:
            self.cost_nanos += round(cost * _NANOS)
        ttft, duration = row["ttft_ms"], row["duration_ms"]
        if ttft is not None:
            self.ttft.add(float(ttft))
        if duration is not None:
            self.duration.add(float(duration))
            generating_ms = float(duration) - float(ttft or 0.0)
            if status == STATUS_OK and output > 0 and generating_ms >= 1:
                self.gen_output_tokens += output
                self.gen_ms += round(generating_ms)

    def merge(self, other: Window) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.client_closed += other.client_closed
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cache_write_1h_tokens += other.cache_write_1h_tokens
        self.cost_nanos += other.cost_nanos
        self.cost_unknown += other.cost_unknown
        self.gen_output_tokens += other.gen_output_tokens
        self.gen_ms += other.gen_ms
        self.ttft.merge(other.ttft)
        self.duration.merge(other.duration)

    def to_row(self, granularity: str, key: WindowKey, now: float) -> tuple[Any, ...]:
        start, model, provider = key
        return (
            granularity,
            start,
            model,
            provider,
            self.requests,
            self.errors,
            self.client_closed,
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.cache_write_1h_tokens,
            self.cost_nanos,
            self.cost_unknown,
            self.gen_output_tokens,
            self.gen_ms,
            self.ttft.to_json(),
            self.duration.to_json(),
            now,
        )

    @classmethod
    def from_row(cls, row: sqlite3.Row | Mapping[str, Any], *, sketches: bool = True) -> Window:
        return cls(
            requests=row["requests"],
            errors=row["errors"],
            client_closed=row["client_closed"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cache_read_tokens=row["cache_read_tokens"],
            cache_write_tokens=row["cache_write_tokens"],
            cache_write_1h_tokens=row["cache_write_1h_tokens"],
            cost_nanos=row["cost_nanos"],
            cost_unknown=row["cost_unknown"],
            gen_output_tokens=row["gen_output_tokens"],
            gen_ms=row["gen_ms"],
            ttft=Sketch.from_json(row["ttft_sketch"]) if sketches else Sketch(),
            duration=Sketch.from_json(row["duration_sketch"]) if sketches else Sketch(),
        )

    def summary(self, *, with_percentiles: bool = True) -> dict[str, Any]:
        """The API shape: totals, null-aware cost, cache hit rate, percentiles, tokens/s."""
        prompt = self.input_tokens + self.cache_write_tokens + self.cache_read_tokens
        known = self.requests - self.cost_unknown
        body: dict[str, Any] = {
            "requests": self.requests,
            "errors": self.errors,
            "client_closed": self.client_closed,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
            "cache_creation_input_tokens": self.cache_write_tokens,
            "cache_creation_1h_input_tokens": self.cache_write_1h_tokens,
            # Null when no request has a known price; partial (cost_known false) when some lack one.
            "cost_usd": self.cost_nanos / _NANOS if known > 0 or self.requests == 0 else None,
            "cost_known": self.cost_unknown == 0,
            "cost_unknown_requests": self.cost_unknown,
            "cache_hit_rate": self.cache_read_tokens / prompt if prompt else None,
            "output_tokens_per_second": (
                self.gen_output_tokens * 1000 / self.gen_ms if self.gen_ms > 0 else None
            ),
        }
        if with_percentiles:
            body["ttft_ms"] = percentiles(self.ttft)
            body["duration_ms"] = percentiles(self.duration)
        return body


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

    Hours older than the hourly retention only feed their day (their hour row would be deleted).
    """
    windows: dict[tuple[str, int, str, str], Window] = {}
    for row in rows:
        if row["path"] != INFERENCE_PATH:
            continue
        model, provider, ts = row["model"] or "", row["provider"] or "", row["ts_start"]
        hour = floor_to(ts, HOUR)
        keys = [("day", floor_to(ts, DAY), model, provider)]
        if hour >= hourly_kept_from:
            keys.append(("hour", hour, model, provider))
        for key in keys:
            if key not in windows:
                windows[key] = Window()
            windows[key].add_request(row, pricing)
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
    rows = []
    for key, delta in windows.items():
        stored = _stored(conn, key)
        if stored is not None:
            stored.merge(delta)
            delta = stored
        rows.append(delta.to_row(key[0], key[1:], now))
    with transaction(conn):
        if read_watermark(conn) != watermark:
            return 0  # another pass rolled these up first
        conn.executemany(_UPSERT, rows)
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
        _write_watermark(conn, 0, time.time())
    total = 0
    while done := run_once(conn, pricing, retention_days=retention_days, now=now):
        total += done
    return total


def apply_retention(
    conn: sqlite3.Connection, retention_days: int, *, now: float | None = None, batch: int = 500
) -> int:
    """Delete hourly rows older than the retention, in small transactions; returns the count."""
    now = time.time() if now is None else now
    cutoff = floor_to(now, HOUR) - retention_days * DAY
    deleted = 0
    while True:
        with transaction(conn):
            cursor = conn.execute(
                "DELETE FROM rollups WHERE (granularity, window_start, model, provider) IN ("
                "SELECT granularity, window_start, model, provider FROM rollups "
                "WHERE granularity = 'hour' AND window_start < ? LIMIT ?)",
                (cutoff, batch),
            )
        deleted += cursor.rowcount
        if cursor.rowcount < batch:
            return deleted
