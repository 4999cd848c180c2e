"""API latency metrics and the Prometheus text exposition, written by hand.

Touched only on the event loop, so plain counters suffice. Latencies are labelled by route
*template* (``/api/requests/{id}``), never by raw path, so label values stay bounded.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Histogram:
    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.count += 1
        self.total += seconds

    def render(self, name: str, labels: str) -> Iterable[str]:
        cumulative = 0
        for bound, count in zip(LATENCY_BUCKETS, self.counts, strict=False):
            cumulative += count
            yield f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}'
        yield f'{name}_bucket{{{labels},le="+Inf"}} {self.count}'
        yield f"{name}_sum{{{labels}}} {self.total}"
        yield f"{name}_count{{{labels}}} {self.count}"


class ApiMetrics:
    def __init__(self) -> None:
        self.latency: dict[tuple[str, str], Histogram] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, f"{status // 100}xx")
        if key not in self.latency:
            self.latency[key] = Histogram()
        self.latency[key].observe(seconds)

    def render(self) -> list[str]:
        name = "ccp_data_api_request_duration_seconds"
        lines = [
            f"# HELP {name} Time to answer an API request, by route template and status class.",
            f"# TYPE {name} histogram",
        ]
        for (route, status), histogram in sorted(self.latency.items()):
            lines.extend(histogram.render(name, f'route="{escape(route)}",status="{status}"'))
        return lines


class LatencyMiddleware:
    """Pure ASGI (no body buffering): time each HTTP request from call to its last byte."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = route.path if isinstance(route, BaseRoute) and hasattr(route, "path") else ""
            self.metrics.observe(template or "unmatched", status, time.perf_counter() - started)
