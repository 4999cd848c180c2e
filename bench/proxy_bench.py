"""The proxy side: direct-to-upstream vs through proxy-core vs through the full stack, with a
bare passthrough (``bench.reference``) measured beside them as the machine's yardstick.

Each phase gets fresh processes and a fresh DATA_DIR. Figures (all from the load generator's
process, see ``loadgen``): latency p50/p99 at one connection and the added milliseconds against
the direct run, streamed requests/s at 32 connections, added TTFT with events paced 20 ms apart,
proxy-core RSS idle and peak, records written per second, record lag p50/p95, and whether every
request sent became exactly one row with zero failures.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.loadgen import measure
from bench.procs import RssSampler, Stack, rss_bytes, start_reference, stop
from bench.report import percentile
from ccp_data.indexing import read_watermark

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
BODY_FILE = FIXTURES / "claude_code_2.1.328_first_turn.json"
HEADERS_FILE = FIXTURES / "claude_code_2.1.328_headers.json"
PATH = "/v1/messages?beta=true"
CONNECTIONS = 32
PACE_MS = 20
ROWS_DEADLINE_S = 60.0
MB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    latency_requests: int
    warmup: int
    throughput_s: float
    ttft_requests: int
    lag_requests: int
    paired_rounds: int  # rounds of the side-by-side run (see ``measure_paired``)


QUICK = Plan(
    latency_requests=300,
    warmup=50,
    throughput_s=3,
    ttft_requests=20,
    lag_requests=50,
    paired_rounds=2,
)
FULL = Plan(
    latency_requests=3000,
    warmup=300,
    throughput_s=15,
    ttft_requests=200,
    lag_requests=500,
    paired_rounds=8,
)
# One side-by-side slice: long enough for 32 connections to settle, short beside the VM's changes.
PAIRED_SLICE_S = 2.0
PAIRED_LATENCY_REQUESTS = 300
# The reference passthrough's streamed req/s at 32 connections when the proxy-core issue set the
# targets on this machine (its evidence; the split-deployment issue's ≥ 1,000 was set beside it).
ISSUE_REFERENCE_RPS = 1330


def client_headers() -> dict[str, str]:
    """Claude Code's own headers, minus those the HTTP client must set itself."""
    headers = orjson.loads(HEADERS_FILE.read_bytes())
    skip = {"connection", "content-length", "host"}
    return {str(k): str(v) for k, v in headers.items() if k.lower() not in skip}


def spec(base_url: str, **knobs: Any) -> dict[str, Any]:
    return {
        "url": base_url + PATH,
        "body_file": str(BODY_FILE),
        "headers": client_headers(),
        **knobs,
    }


def rows(db_path: Path) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])
    finally:
        conn.close()


def wait_indexed(db_path: Path) -> None:
    """Poll until proxy-data has indexed every request in the database (or ROWS_DEADLINE_S)."""
    deadline = time.monotonic() + ROWS_DEADLINE_S
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        newest = conn.execute("SELECT coalesce(max(seq), 0) FROM requests").fetchone()[0]
        while read_watermark(conn) < newest and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        conn.close()


def wait_rows(db_path: Path, target: int) -> tuple[int, float]:
    """Poll until ``target`` rows exist; returns (rows seen, wall-clock time of the last poll)."""
    deadline = time.monotonic() + ROWS_DEADLINE_S
    seen = rows(db_path)
    while seen < target and time.monotonic() < deadline:
        time.sleep(0.01)
        seen = rows(db_path)
    return seen, time.time()


def _ms(values: list[float], p: float) -> float | None:
    return percentile(values, p)


def measure_direct(upstream_url: str, plan: Plan) -> dict[str, Any]:
    latency = measure(spec(upstream_url, requests=plan.latency_requests, warmup=plan.warmup))
    load = measure(
        spec(upstream_url, connections=CONNECTIONS, duration=plan.throughput_s, warmup=plan.warmup)
    )
    ttft = measure(spec(upstream_url, requests=plan.ttft_requests, pace_ms=PACE_MS))
    return {
        "direct.p50_ms": _ms(latency["latency_ms"], 50),
        "direct.p99_ms": _ms(latency["latency_ms"], 99),
        "direct.streamed_rps_32": load["ok_per_s"],
        "direct.ttft_p50_ms": _ms(ttft["ttft_ms"], 50),
        "direct.failures": latency["failures"] + load["failures"] + ttft["failures"],
    }


def measure_reference(reference_url: str, direct: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The bare passthrough (``bench.reference``): what the machine gives any proxy of this kind
    right now. The proxy-core issue measured it at about 1,330 streamed req/s when it set the
    targets; a run where it measures far less was taken on a slower machine."""
    latency = measure(spec(reference_url, requests=plan.latency_requests, warmup=plan.warmup))
    load = measure(
        spec(reference_url, connections=CONNECTIONS, duration=plan.throughput_s, warmup=plan.warmup)
    )
    p50 = _ms(latency["latency_ms"], 50)
    return {
        "reference.p50_ms": p50,
        "reference.added_p50_ms": _diff(p50, direct.get("direct.p50_ms")),
        "reference.streamed_rps_32": load["ok_per_s"],
        "reference.failures": latency["failures"] + load["failures"],
    }


def measure_proxy(
    kind: str, upstream_url: str, direct: dict[str, Any], work_dir: Path, plan: Plan
) -> dict[str, Any]:
    """``kind`` is "core" (proxy-core alone) or "stack" (Caddy → core, with proxy-data running)."""
    stack = Stack.fresh(work_dir / kind, upstream_url)
    try:
        stack.migrate()
        core = stack.start_core()
        base = stack.url("core")
        if kind == "stack":
            stack.start_data()
            stack.start_caddy()
            base = stack.url("front")
        idle = rss_bytes(core.proc.pid)
        with RssSampler(core.proc.pid) as rss:
            figures = _run_phase(kind, base, stack.db_path, direct, plan)
        figures[f"{kind}.rss_idle_mb"] = idle / MB
        figures[f"{kind}.rss_peak_mb"] = rss.peak / MB
        return figures
    finally:
        stack.close()


def _run_phase(
    kind: str, base: str, db_path: Path, direct: dict[str, Any], plan: Plan
) -> dict[str, Any]:
    results = []
    latency = measure(spec(base, requests=plan.latency_requests, warmup=plan.warmup))
    results.append(latency)
    before = rows(db_path)
    load = measure(
        spec(base, connections=CONNECTIONS, duration=plan.throughput_s, warmup=plan.warmup)
    )
    results.append(load)
    written, visible_at = wait_rows(db_path, before + load["sent"])
    record_rate = (written - before - (load["sent"] - load["measured"])) / max(
        visible_at - load["started_wall"], 1e-9
    )
    ttft = measure(spec(base, requests=plan.ttft_requests, pace_ms=PACE_MS))
    results.append(ttft)
    lag = measure(spec(base, requests=plan.lag_requests, warmup=5, lag_db=str(db_path)))
    results.append(lag)
    sent = sum(r["sent"] for r in results)
    stored, _ = wait_rows(db_path, sent)
    p50 = _ms(latency["latency_ms"], 50)
    ttft_p50 = _ms(ttft["ttft_ms"], 50)
    return {
        f"{kind}.p50_ms": p50,
        f"{kind}.p99_ms": _ms(latency["latency_ms"], 99),
        f"{kind}.added_p50_ms": _diff(p50, direct.get("direct.p50_ms")),
        f"{kind}.added_p99_ms": _diff(_ms(latency["latency_ms"], 99), direct.get("direct.p99_ms")),
        f"{kind}.streamed_rps_32": load["ok_per_s"],
        f"{kind}.load_p50_ms": _ms(load["latency_ms"], 50),
        f"{kind}.load_p99_ms": _ms(load["latency_ms"], 99),
        f"{kind}.ttft_p50_ms": ttft_p50,
        f"{kind}.added_ttft_p50_ms": _diff(ttft_p50, direct.get("direct.ttft_p50_ms")),
        f"{kind}.records_per_s": record_rate,
        f"{kind}.record_lag_p50_ms": _ms(lag["lag_ms"], 50),
        f"{kind}.record_lag_p95_ms": _ms(lag["lag_ms"], 95),
        f"{kind}.record_lag_polled_by_id": f"{lag['lag_by_id']}/{lag['measured']}",
        f"{kind}.requests_sent": sent,
        f"{kind}.rows_stored": stored,
        f"{kind}.rows_missing": sent - stored,
        f"{kind}.failures": sum(r["failures"] for r in results),
        f"{kind}.errors": [e for r in results for e in r["errors"]][:10],
    }


def measure_paired(upstream_url: str, work_dir: Path, plan: Plan) -> dict[str, Any]:
    """The reference, proxy-core alone and the full stack, all running at once and measured in
    turns.

    The phases above are minutes apart, and this VM changes speed every few seconds, so their
    ratios move by a third between runs. Here each round measures all three, in turn (forward,
    then backward: A B C C B A), a 2 s slice at 32 connections and 300 requests at one: the ratios
    of a round compare them at the same moment, and their median over the rounds is the figure to
    read the targets against. proxy-core and the stack have a database each (the stack's
    proxy-data indexes only its own traffic), so neither records the other's requests, and the
    next slice starts once proxy-data has indexed the stack's: none runs beside another's work.
    """
    reference, reference_url = start_reference(work_dir / "logs", upstream_url)
    core = Stack.fresh(work_dir / "paired-core", upstream_url)
    stack = Stack.fresh(work_dir / "paired-stack", upstream_url)
    try:
        for proxied in (core, stack):
            proxied.migrate()
            proxied.start_core()
        stack.start_data()
        stack.start_caddy()
        bases = {"reference": reference_url, "core": core.url("core"), "stack": stack.url("front")}
        databases = {"core": core.db_path, "stack": stack.db_path}
        warm = {name: measure(spec(base, requests=plan.warmup)) for name, base in bases.items()}
        rps: dict[str, list[float]] = {name: [] for name in bases}
        p50: dict[str, list[float | None]] = {name: [] for name in bases}
        sent = {name: warm[name]["sent"] for name in databases}
        failures = sum(w["failures"] for w in warm.values())
        for round_ in range(plan.paired_rounds):
            order = list(bases) if round_ % 2 == 0 else list(bases)[::-1]
            for name in order:
                load = measure(
                    spec(bases[name], connections=CONNECTIONS, duration=PAIRED_SLICE_S, warmup=32)
                )
                latency = measure(spec(bases[name], requests=PAIRED_LATENCY_REQUESTS, warmup=20))
                rps[name].append(load["ok_per_s"])
                p50[name].append(_ms(latency["latency_ms"], 50))
                failures += load["failures"] + latency["failures"]
                if name in sent:
                    sent[name] += load["sent"] + latency["sent"]
                if name == "stack":
                    wait_indexed(stack.db_path)
        figures = paired_figures(rps, p50) | {"paired.failures": failures}
        for name, db_path in databases.items():
            stored, _ = wait_rows(db_path, sent[name])
            figures[f"paired.{name}_rows_missing"] = sent[name] - stored
        return figures
    finally:
        stack.close()
        core.close()
        stop(reference.proc)


def paired_figures(
    rps: dict[str, list[float]], p50: dict[str, list[float | None]]
) -> dict[str, Any]:
    """The side-by-side figures of each proxy in ``rps`` (``core``, ``stack``) against
    ``reference``, from each round's req/s and p50. A round where the proxy or the reference
    completed nothing in its slice (the failures are in ``paired.failures``) is left out of that
    proxy's share, one without both p50s out of its p50 difference; the ``*_rps_32`` medians are
    of every slice. ``*_rps_at_issue_reference``
    is the median share times the reference's req/s when the issues set the targets: the proxy's
    req/s on this machine at the speed it had then."""
    figures: dict[str, Any] = {"paired.reference_rps_32": statistics.median(rps["reference"])}
    for name in [name for name in rps if name != "reference"]:
        rounds = [
            (proxied, ref)
            for proxied, ref in zip(rps[name], rps["reference"], strict=True)
            if proxied and ref
        ]
        shares = [proxied / ref for proxied, ref in rounds]
        extra_ms = [
            proxied - ref
            for proxied, ref in zip(p50[name], p50["reference"], strict=True)
            if proxied is not None and ref is not None
        ]
        share = statistics.median(shares) if shares else None
        figures |= {
            f"paired.{name}_rounds": len(shares),
            f"paired.{name}_rps_32": statistics.median(rps[name]),
            f"paired.{name}_share_of_reference": share,
            f"paired.{name}_share_range": (
                f"{min(shares):.2f} to {max(shares):.2f}" if shares else None
            ),
            f"paired.{name}_rps_at_issue_reference": (
                share * ISSUE_REFERENCE_RPS if share is not None else None
            ),
            f"paired.{name}_p50_over_reference_ms": (
                statistics.median(extra_ms) if extra_ms else None
            ),
        }
    return figures


def _diff(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None:
        return None
    return value - baseline
