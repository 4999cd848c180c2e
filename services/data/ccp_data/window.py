"""The aggregate of a set of requests: counts, tokens, cost, latency sketches, tokens/s.

Pure: no I/O. ``merge`` of two windows is the window of their union, exactly — every additive
figure is an integer (cost in billionths of a USD, generation time in ms) and latencies are
mergeable sketches — so hours add up to days, batches to hours, and databases to each other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ccp_data.cost import cost_of
from ccp_data.pricing import PriceTable
from ccp_data.sketch import Sketch, percentiles
from ccp_shared.records import STATUS_CLIENT_CLOSED, STATUS_OK

WindowKey = tuple[int, str, str]  # (window_start, model, provider); "" for an unknown one
_NANOS = 1_000_000_000
# How the API names a model or provider the request never had (a request refused before routing).
UNKNOWN = "unknown"


def key_label(name: str | None) -> str:
    return name or UNKNOWN


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0


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

    @property
    def cost_usd(self) -> float | None:
        """The known part of the cost; None when nothing that used tokens had a known price.

        Requests without tokens cost a known 0 whatever their model, so they cannot tell a
        priced model from an unpriced one: with unknown costs, a total of exactly 0 means no
        priced request used tokens (a free model's tokens are the rare exception).
        """
        if self.cost_unknown > 0 and self.cost_nanos == 0:
            return None
        return self.cost_nanos / _NANOS

    def summary(self, *, with_percentiles: bool = True) -> dict[str, Any]:
        """The API shape: totals, null-aware cost, cache hit rate, percentiles, tokens/s."""
        prompt = self.input_tokens + self.cache_write_tokens + self.cache_read_tokens
        body: dict[str, Any] = {
            "requests": self.requests,
            "errors": self.errors,
            "client_closed": self.client_closed,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
            "cache_creation_input_tokens": self.cache_write_tokens,
            "cache_creation_1h_input_tokens": self.cache_write_1h_tokens,
            "cost_usd": self.cost_usd,
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
