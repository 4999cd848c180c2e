"""Rollups: usage, cost and latency per hour and per day, per model and provider.

Incremental and idempotent. A pass reads the requests after its watermark (``requests.seq``),
finds the hour windows they touch, recomputes each of those windows *from the requests table* and
each touched day from its hours, then writes the rows and the new watermark in one short
``BEGIN IMMEDIATE`` transaction. Recomputing a window always yields the same row, so a crash, a
restart or two passes racing over the same data cannot double-count.

Latency percentiles are mergeable sketches, so a day is exactly the merge of its hours; only days
older than the hourly retention are recomputed from the requests themselves.
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
    "cost_usd",
    "cost_unknown",
    "gen_output_tokens",
    "gen_seconds",
    "ttft_sketch",
    "duration_sketch",
    "updated_at",
)
_UPSERT = (
    f"INSERT OR REPLACE INTO rollups ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_REQUEST_FIELDS = (
    "status, model, input_tokens, output_tokens, cache_read_input_tokens, "
    "cache_creation_input_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens, "
    "ttft_ms, duration_ms"
)


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
    cost_usd: float = 0.0
    cost_unknown: int = 0
    gen_output_tokens: int = 0
    gen_seconds: float = 0.0
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
            self.cost_usd += cost
        ttft, duration = row["ttft_ms"], row["duration_ms"]
        if ttft is not None:
            self.ttft.add(float(ttft))
        if duration is not None:
            self.duration.add(float(duration))
            generating_ms = float(duration) - float(ttft or 0.0)
            if status == STATUS_OK and output > 0 and generating_ms > 0:
                self.gen_output_tokens += output
                self.gen_seconds += generating_ms / 1000.0

    def merge(self, other: Window) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.client_closed += other.client_closed
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cache_write_1h_tokens += other.cache_write_1h_tokens
        self.cost_usd += other.cost_usd
        self.cost_unknown += other.cost_unknown
        self.gen_output_tokens += other.gen_output_tokens
        self.gen_seconds += other.gen_seconds
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
            self.cost_usd,
            self.cost_unknown,
            self.gen_output_tokens,
            self.gen_seconds,
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
            cost_usd=row["cost_usd"],
            cost_unknown=row["cost_unknown"],
            gen_output_tokens=row["gen_output_tokens"],
            gen_seconds=row["gen_seconds"],
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
            "cost_usd": round(self.cost_usd, 6) if known > 0 or self.requests == 0 else None,
            "cost_known": self.cost_unknown == 0,
            "cost_unknown_requests": self.cost_unknown,
            "cache_hit_rate": self.cache_read_tokens / prompt if prompt else None,
            "output_tokens_per_second": (
                self.gen_output_tokens / self.gen_seconds if self.gen_seconds > 0 else None
            ),
        }
        if with_percentiles:
            body["ttft_ms"] = percentiles(self.ttft)
            body["duration_ms"] = percentiles(self.duration)
        return body


def window_of_requests(rows: Iterable[sqlite3.Row], pricing: PriceTable) -> Window:
    window = Window()
    for row in rows:
        window.add_request(row, pricing)
    return window


def compute_from_requests(
    conn: sqlite3.Connection, start: int, end: int, model: str, provider: str, pricing: PriceTable
) -> Window:
    """The window recomputed from ``requests`` (``model``/``provider`` "" stand for NULL)."""
    rows = conn.execute(
        f"SELECT {_REQUEST_FIELDS} FROM requests "
        "WHERE model IS ? AND ts_start >= ? AND ts_start < ? AND provider IS ? AND path = ?",
        (model or None, start, end, provider or None, INFERENCE_PATH),
    )
    rows.row_factory = sqlite3.Row
    return window_of_requests(rows, pricing)


def read_watermark(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM indexer_state WHERE name = ?", (WATERMARK_NAME,)).fetchone()
    return int(row[0]) if row else 0


def _day_from_hours(
    conn: sqlite3.Connection, key: WindowKey, fresh_hours: Mapping[WindowKey, Window]
) -> Window:
    day, model, provider = key
    stored = conn.execute(
        "SELECT * FROM rollups WHERE granularity = 'hour' AND window_start >= ? "
        "AND window_start < ? AND model = ? AND provider = ?",
        (day, day + DAY, model, provider),
    )
    stored.row_factory = sqlite3.Row
    hours = {row["window_start"]: Window.from_row(row) for row in stored}
    for (start, m, p), window in fresh_hours.items():
        if m == model and p == provider and day <= start < day + DAY:
            hours[start] = window
    total = Window()
    for window in hours.values():
        total.merge(window)
    return total


def run_once(
    conn: sqlite3.Connection,
    pricing: PriceTable,
    *,
    batch_size: int = 5000,
    retention_days: int = 30,
    now: float | None = None,
) -> int:
    """Roll up the next batch of requests after the watermark; returns how many were read."""
    now = time.time() if now is None else now
    watermark = read_watermark(conn)
    new = conn.execute(
        "SELECT seq, ts_start, model, provider, path FROM requests "
        "WHERE seq > ? ORDER BY seq LIMIT ?",
        (watermark, batch_size),
    ).fetchall()
    if not new:
        return 0
    touched = {
        (floor_to(ts, HOUR), model or "", provider or "")
        for _, ts, model, provider, path in new
        if path == INFERENCE_PATH
    }
    hours = {
        key: compute_from_requests(conn, key[0], key[0] + HOUR, key[1], key[2], pricing)
        for key in touched
    }
    hourly_kept_from = floor_to(now, HOUR) - retention_days * DAY
    days: dict[WindowKey, Window] = {}
    for day_key in {(floor_to(start, DAY), m, p) for start, m, p in touched}:
        day, model, provider = day_key
        if day < hourly_kept_from:  # its other hours may be gone: recount the whole day
            days[day_key] = compute_from_requests(conn, day, day + DAY, model, provider, pricing)
        else:
            days[day_key] = _day_from_hours(conn, day_key, hours)
    with transaction(conn):
        _write_windows(conn, "hour", hours, now, keep_from=hourly_kept_from)
        _write_windows(conn, "day", days, now, keep_from=None)
        conn.execute(
            "INSERT INTO indexer_state (name, seq, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
            (WATERMARK_NAME, new[-1][0], now),
        )
    return len(new)


def _write_windows(
    conn: sqlite3.Connection,
    granularity: str,
    windows: Mapping[WindowKey, Window],
    now: float,
    *,
    keep_from: int | None,
) -> None:
    rows = [
        window.to_row(granularity, key, now)
        for key, window in windows.items()
        if window.requests > 0 and (keep_from is None or key[0] >= keep_from)
    ]
    conn.executemany(_UPSERT, rows)


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
