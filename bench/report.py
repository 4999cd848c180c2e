"""Figures, targets and the printed table of a benchmark run."""

from __future__ import annotations

import json
import math
import platform
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Target:
    limit: float
    at_most: bool  # True: the figure must be ≤ limit; False: ≥ limit

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value <= self.limit if self.at_most else value >= self.limit

    def __str__(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.limit:g}"


TARGETS: dict[str, Target] = {
    "core.added_p50_ms": Target(1.0, True),
    "stack.added_p50_ms": Target(1.5, True),
    "core.streamed_rps_32": Target(1000, False),
    "stack.streamed_rps_32": Target(1000, False),
    "core.rss_peak_mb": Target(80, True),
    "core.rss_idle_mb": Target(80, True),
    "stack.rss_peak_mb": Target(80, True),
    "core.record_lag_p95_ms": Target(200, True),
    "stack.record_lag_p95_ms": Target(200, True),
    "reference.failures": Target(0, True),
    "paired.failures": Target(0, True),
    "paired.core_rows_missing": Target(0, True),
    "paired.stack_rows_missing": Target(0, True),
    "core.failures": Target(0, True),
    "stack.failures": Target(0, True),
    "core.rows_missing": Target(0, True),
    "stack.rows_missing": Target(0, True),
    "data.indexer_rps": Target(2000, False),
    "data.indexer_real_rps": Target(2000, False),
    "data.search_rare_p95_ms": Target(100, True),
    "data.search_common_p95_ms": Target(100, True),
    "data.search_prefix_p95_ms": Target(100, True),
    "data.rollup_tick_p95_ms": Target(100, True),
}
# Every /api/* figure shares one target.
API_TARGET = Target(50, True)


def target_for(key: str) -> Target | None:
    if key in TARGETS:
        return TARGETS[key]
    if key.startswith("data.api.") and key.endswith("_p95_ms"):
        return API_TARGET
    return None


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(figures: dict[str, Any]) -> str:
    """One line per figure: name, value, target and whether it is met."""
    rows = [("figure", "value", "target", "")]
    for key, value in figures.items():
        if isinstance(value, list | dict):
            continue
        target = target_for(key)
        met = target.met(value) if target is not None and not isinstance(value, str) else None
        verdict = {True: "ok", False: "MISSED", None: ""}[met]
        rows.append((key, _fmt(value), str(target) if target else "", verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip()
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


PROBE_ITERATIONS = 100_000
PROBE_EVERY_S = 2.0


def cpu_probe_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop: about 2.0 ms when the dev VM runs fast."""
    started = time.thread_time()
    total = 0
    for i in range(PROBE_ITERATIONS):
        total += i
    return (time.thread_time() - started) * 1000


class CpuProbe:
    """Times ``cpu_probe_ms`` every ``PROBE_EVERY_S`` in a thread while a part runs.

    The dev VM's cores run the same work about 1.8 times slower at some moments than at others
    (its host is shared), which moves every figure; the probes say how fast the machine was
    while the part ran, so runs taken at different moments can be compared.
    """

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-probe", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(PROBE_EVERY_S):
            self.samples.append(cpu_probe_ms())

    def __enter__(self) -> CpuProbe:
        self.samples.append(cpu_probe_ms())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}.cpu_probe_ms_p50": percentile(self.samples, 50),
            f"{prefix}.cpu_probe_ms_range": (
                f"{min(self.samples):.1f} to {max(self.samples):.1f} ({len(self.samples)} probes)"
            ),
        }


def machine() -> dict[str, Any]:
    load = psutil.getloadavg()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": psutil.cpu_count(),
        "load_avg_1m_at_end": round(load[0], 2),
    }


def write_json(figures: dict[str, Any], options: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS_DIR / f"bench-{stamp}.json"
    payload = {"taken_at": stamp, "options": options, "machine": machine(), "figures": figures}
    path.write_text(json.dumps(payload, indent=2, sort_keys=False))
    return path
