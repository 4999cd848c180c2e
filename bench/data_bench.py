"""The data side: fill a database, index it, roll it up, then time proxy-data's APIs.

Figures: rows/s of the filler, requests/s of the indexer run to completion (``Indexer.run_once``)
and of the rollups catching up, database bytes per request, p50/p95 of the dashboard APIs
against the filled database (first and a deep cursor page of /api/requests, one request's
detail, /api/stats, /api/stats/hourly over 30 days, /api/conversations, search for a rare and a
common word), and p95 of one rollup tick over the busiest hour.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.filler import COMMON_WORD, DAY, HOUR, RARE_WORD, FillResult, fill, fill_hour
from bench.procs import Stack
from bench.real_sessions import fill_real, stored_body_bytes
from bench.report import percentile
from ccp_data import rollups
from ccp_data.indexer import Indexer
from ccp_data.maintenance import ROLLUP_BATCH
from ccp_data.pricing import load_price_table
from ccp_shared.config import Config, load_config
from ccp_shared.migrate import upgrade
from ccp_shared.store import connect

PAGE = 50
PREFIX_QUERY = COMMON_WORD[:4] + "*"  # a prefix of the common word: FTS5 merges every term
NO_UPSTREAM = "http://127.0.0.1:9"  # the data side sends no model traffic


@dataclass(frozen=True)
class DataPlan:
    requests: int
    samples: int  # timed calls per endpoint
    deep_pages: int  # how far the deep cursor page is
    rollup_ticks: int
    real_sessions: int = 100  # sessions of REAL_TURNS real-sized turns for the indexer figure


REAL_TURNS = 15
REAL_RUNS = 3
QUICK = DataPlan(requests=20_000, samples=30, deep_pages=20, rollup_ticks=10, real_sessions=20)
FULL = DataPlan(requests=1_000_000, samples=200, deep_pages=200, rollup_ticks=30)


def measure_data(work_dir: Path, plan: DataPlan) -> dict[str, Any]:
    stack = Stack.fresh(work_dir / "data", NO_UPSTREAM)
    try:
        stack.migrate()
        filled = fill(stack.db_path, plan.requests)
        figures: dict[str, Any] = {
            "data.requests": filled.rows,
            "data.fill_rows_per_s": filled.rows / filled.seconds,
        }
        config = load_config(environ=stack.env)
        figures |= index_and_roll_up(config, stack.db_path)
        figures["data.db_bytes_per_request"] = db_bytes(stack.db_path) / max(filled.rows, 1)
        stack.start_data()
        with httpx.Client(base_url=stack.url("data"), timeout=30) as client:
            figures |= time_apis(client, plan, filled)
        stack.close()  # its maintenance thread would race the rollup ticks below
        figures |= time_rollup_ticks(config, stack.db_path, filled, plan.rollup_ticks)
        figures |= index_real_bodies(work_dir / "real", plan.real_sessions)
        return figures
    finally:
        stack.close()


def db_bytes(db_path: Path) -> int:
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))


def run_indexer(config: Config) -> tuple[int, float, float]:
    """(requests indexed, wall seconds, CPU seconds of this process) of one ``run_once``."""
    indexer = Indexer(config)
    started, started_cpu = time.perf_counter(), time.process_time()
    try:
        indexed = indexer.run_once()
    finally:
        indexer.stop()
    return indexed, time.perf_counter() - started, time.process_time() - started_cpu


def index_and_roll_up(config: Config, db_path: Path) -> dict[str, float]:
    indexed, index_s, index_cpu_s = run_indexer(config)
    conn = connect(db_path, busy_timeout=30)
    pricing = load_price_table(config.pricing)
    started = time.perf_counter()
    rolled = 0
    try:
        while done := rollups.run_once(conn, pricing, batch_size=ROLLUP_BATCH):
            rolled += done
    finally:
        conn.close()
    roll_s = time.perf_counter() - started
    return {
        "data.indexed": indexed,
        "data.indexer_rps": indexed / max(index_s, 1e-9),
        "data.indexer_cpu_rps": indexed / max(index_cpu_s, 1e-9),
        "data.rollup_catchup_rps": rolled / max(roll_s, 1e-9),
    }


def timed(call: Callable[[], httpx.Response], samples: int) -> tuple[list[float], httpx.Response]:
    """Milliseconds of ``samples`` calls after two warm-up calls; raises on a non-200."""
    response = call()
    call()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(
                f"{response.request.url} -> {response.status_code}: {response.text[:300]}"
            )
    return times, response


def deep_cursor(client: httpx.Client, pages: int) -> str | None:
    cursor = None
    for _ in range(pages):
        params = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/requests", params=params).json()
        if not page.get("next_cursor"):
            break
        cursor = page["next_cursor"]
    return cursor


def time_apis(client: httpx.Client, plan: DataPlan, filled: FillResult) -> dict[str, Any]:
    first = client.get("/api/requests", params={"limit": PAGE}).json()["requests"]
    one_id = first[0]["id"]
    cursor = deep_cursor(client, plan.deep_pages)
    calls: dict[str, Callable[[], httpx.Response]] = {
        "requests_first_page": lambda: client.get("/api/requests", params={"limit": PAGE}),
        "requests_deep_page": lambda: client.get(
            "/api/requests", params={"limit": PAGE, "cursor": cursor or ""}
        ),
        "request_detail": lambda: client.get(f"/api/requests/{one_id}"),
        "stats": lambda: client.get("/api/stats", params={"since": "30d"}),
        "stats_hourly_30d": lambda: client.get("/api/stats/hourly", params={"since": "30d"}),
        "conversations": lambda: client.get("/api/conversations"),
    }
    figures: dict[str, Any] = {}
    for name, call in calls.items():
        times, _ = timed(call, plan.samples)
        figures[f"data.api.{name}_p50_ms"] = percentile(times, 50)
        figures[f"data.api.{name}_p95_ms"] = percentile(times, 95)
    searches = (("rare", RARE_WORD), ("common", COMMON_WORD), ("prefix", PREFIX_QUERY))
    for label, word in searches:
        times, response = timed(_search(client, word), plan.samples)
        figures[f"data.search_{label}_p50_ms"] = percentile(times, 50)
        figures[f"data.search_{label}_p95_ms"] = percentile(times, 95)
        figures[f"data.search_{label}_hits_first_page"] = len(response.json()["results"])
    figures["data.search_rare_planted"] = filled.rare_planted
    return figures


def _search(client: httpx.Client, word: str) -> Callable[[], httpx.Response]:
    return lambda: client.get("/api/conversations/search", params={"q": word})


def time_rollup_ticks(
    config: Config, db_path: Path, filled: FillResult, ticks: int
) -> dict[str, Any]:
    """One tick = ``rollups.run_once`` with proxy-data's batch size, over a batch of requests
    just written into the busiest hour (so it merges into that hour's and day's rows).

    Each tick rolls up new requests, as in production: rollups are additive, so re-running a
    pass over requests already rolled up would count them twice. The busy hour's rollup rows
    are then checked against its requests.
    """
    conn = connect(db_path, busy_timeout=30)
    pricing = load_price_table(config.pricing)
    times, cpu_times = [], []
    try:
        busy = _busy_hour_requests(conn, filled.busy_hour)
        for tick in range(ticks):
            fill_hour(db_path, filled.busy_hour, ROLLUP_BATCH, seed=1000 + tick)
            started, started_cpu = time.perf_counter(), time.process_time()
            done = rollups.run_once(conn, pricing, batch_size=ROLLUP_BATCH)
            times.append((time.perf_counter() - started) * 1000)
            cpu_times.append((time.process_time() - started_cpu) * 1000)
            if done != ROLLUP_BATCH:
                raise RuntimeError(f"rollup tick {tick} consumed {done} of {ROLLUP_BATCH}")
        _check_busy_hour(conn, filled.busy_hour)
    finally:
        conn.close()
    return {
        "data.busy_hour_requests": busy,
        "data.rollup_tick_requests": ROLLUP_BATCH,
        "data.rollup_tick_p50_ms": percentile(times, 50),
        "data.rollup_tick_p95_ms": percentile(times, 95),
        "data.rollup_tick_cpu_p95_ms": percentile(cpu_times, 95),
    }


def _busy_hour_requests(conn: sqlite3.Connection, hour: int) -> int:
    (count,) = conn.execute(
        "SELECT count(*) FROM requests WHERE ts_start >= ? AND ts_start < ?", (hour, hour + HOUR)
    ).fetchone()
    return int(count)


def _check_busy_hour(conn: sqlite3.Connection, hour: int) -> None:
    """Raise unless the busy hour's rollups count each of its inference requests once."""
    (inference,) = conn.execute(
        "SELECT count(*) FROM requests WHERE path = ? AND ts_start >= ? AND ts_start < ?",
        (rollups.INFERENCE_PATH, hour, hour + HOUR),
    ).fetchone()
    (rolled,) = conn.execute(
        "SELECT coalesce(sum(requests), 0) FROM rollups WHERE granularity = 'hour' "
        "AND window_start = ?",
        (hour,),
    ).fetchone()
    if rolled != inference:
        raise RuntimeError(f"busy hour: {rolled} requests rolled up, {inference} in the table")


def index_real_bodies(work_dir: Path, sessions: int) -> dict[str, Any]:
    """The indexer over Claude Code sessions with real-sized bodies (``bench.real_sessions``).

    Indexing them takes about a second, short enough for one of this VM's slow moments to take
    a third off the figure, so it runs REAL_RUNS times, each on a fresh database: the figure is
    the median, and the range is shown beside it."""
    rates, cpu_rates, body_kb, stored_kb = [], [], 0.0, 0.0
    for run in range(REAL_RUNS):
        run_dir = work_dir / f"run{run}"
        run_dir.mkdir(parents=True, exist_ok=True)
        config = load_config(flags={"data_dir": str(run_dir)}, environ={})
        upgrade(config.db_path)
        body_bytes = fill_real(config.db_path, sessions, REAL_TURNS, t0=time.time() - DAY)
        stored, stored_bytes = stored_body_bytes(config.db_path)
        indexed, seconds, cpu_seconds = run_indexer(config)
        body_kb = body_bytes / max(indexed, 1) / 1024
        stored_kb = stored_bytes / max(stored, 1) / 1024
        rates.append(indexed / max(seconds, 1e-9))
        cpu_rates.append(indexed / max(cpu_seconds, 1e-9))
    return {
        "data.real_body_kb": body_kb,
        # What the request_body column holds per request: bodies are stored as differences.
        "data.real_body_stored_kb": stored_kb,
        "data.indexer_real_rps": statistics.median(rates),
        "data.indexer_real_rps_range": f"{min(rates):,.0f} to {max(rates):,.0f} ({REAL_RUNS} runs)",
        "data.indexer_real_cpu_rps": statistics.median(cpu_rates),
    }
