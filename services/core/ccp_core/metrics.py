"""Prometheus text exposition, written by hand: a few counters and histograms need no library.

Everything here is touched only on the event loop, so plain integers suffice (no locks).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping

# Upstream latency and TTFT span a few ms (count_tokens) to minutes (long thinking).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# A client can name any model; past this many label values new ones are folded into "other",
# and so is a name longer than any real model id (a 5 MB "model" would be kept for the process's
# life and sent with every scrape).
MAX_MODEL_LABELS = 200
MAX_MODEL_LABEL_LENGTH = 128
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Histogram:
    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value

    def render(self, name: str) -> list[str]:
        lines = []
        cumulative = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            cumulative += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        lines.append(f"{name}_sum {self.total}")
        lines.append(f"{name}_count {self.count}")
        return lines


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = {}
        self.in_flight = 0
        self.upstream_latency = Histogram()
        self.ttft = Histogram()
        self.duration = Histogram()
        self._models: set[str] = set()

    def count_request(self, status: str, model: str | None) -> None:
        label = model or "unknown"
        if label not in self._models:
            if len(self._models) >= MAX_MODEL_LABELS or len(label) > MAX_MODEL_LABEL_LENGTH:
                label = "other"
            else:
                self._models.add(label)
        key = (status, label)
        self.requests[key] = self.requests.get(key, 0) + 1

    def render(self, recorder: Mapping[str, int]) -> str:
        lines = [
            "# HELP ccp_core_requests_total Proxied requests by final status and model.",
            "# TYPE ccp_core_requests_total counter",
        ]
        for (status, model), count in sorted(self.requests.items()):
            lines.append(
                f'ccp_core_requests_total{{status="{status}",model="{_escape(model)}"}} {count}'
            )
        lines += [
            "# HELP ccp_core_in_flight Requests being proxied right now.",
            "# TYPE ccp_core_in_flight gauge",
            f"ccp_core_in_flight {self.in_flight}",
        ]
        for name, histogram, text in (
            ("ccp_core_upstream_latency_seconds", self.upstream_latency, "to upstream headers"),
            ("ccp_core_ttft_seconds", self.ttft, "to the first content delta"),
            ("ccp_core_request_duration_seconds", self.duration, "of the whole exchange"),
        ):
            lines += [f"# HELP {name} Seconds {text}.", f"# TYPE {name} histogram"]
            lines += histogram.render(name)
        for key, kind, text in (
            ("queue_depth", "gauge", "Records waiting for the writer thread."),
            ("written", "counter", "Records committed to the database or JSONL."),
            ("spool_pending", "gauge", "Records in the spool waiting for the database."),
            ("write_errors", "counter", "Failed write attempts (records then go to the spool)."),
            ("dropped", "counter", "Records lost (should stay 0)."),
        ):
            name = f"ccp_core_recorder_{key}" + ("_total" if kind == "counter" else "")
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            lines.append(f"{name} {int(recorder.get(key, 0))}")
        return "\n".join(lines) + "\n"
