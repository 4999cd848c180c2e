"""The load generator: aiohttp keep-alive clients in a process of their own.

``measure(spec)`` runs ``python -m bench.loadgen`` with a JSON spec and returns its JSON result,
so the client never shares a GIL with the proxy or the fake upstream it measures. A spec::

    {"url": "http://127.0.0.1:3001/v1/messages?beta=true", "body_file": "...first_turn.json",
     "headers": {...}, "connections": 32, "requests": 0, "duration": 10, "warmup": 20,
     "pace_ms": 0, "lag_db": null}

Every request is a streamed ``POST``; it counts as a failure unless the status is 200 and the
stream ends with ``message_stop``. ``latency_ms`` is send → last byte, ``ttft_ms`` send → first
``content_block_delta``. With ``lag_db`` set, requests run one at a time and after each one the
database is polled (read-only, every millisecond) until the request's record is visible, found by
the id proxy-core returns in ``ccp-request-id`` (``lag_ms``: response end → row visible).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
LAG_DEADLINE_S = 5.0
LAG_POLL_S = 0.001
# Longest a measurement may take beyond its planned duration before it is called broken.
GRACE_S = 120.0
# proxy-core names the record of each request in this response header.
RECORD_ID_HEADER = "ccp-request-id"


@dataclass
class Tally:
    sent: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    lag_by_id: int = 0

    def lag(self, conn: sqlite3.Connection, record_id: str | None, rows: int) -> None:
        """Time until this request's record is visible: by its id when the proxy named it,
        else until the row count reaches ``rows`` (every request, even a failed one, ends in
        exactly one record, and nothing else writes while lag is measured)."""
        if record_id:
            self.lag_by_id += 1
            lag = wait_until(lambda: has_row(conn, record_id))
        else:
            lag = wait_until(lambda: row_count(conn) >= rows)
        if lag is None:
            self.fail("record not visible within the lag deadline")
        else:
            self.lag_ms.append(lag * 1000)

    def fail(self, why: str) -> None:
        self.failures += 1
        if len(self.errors) < 5:
            self.errors.append(why)


async def one_request(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], tally: Tally
) -> str | None:
    """Send one streamed request; its proxy record id ("" when none was given), None on failure."""
    tally.sent += 1
    started = time.perf_counter()
    ttft = None
    tail = b""
    try:
        async with session.post(url, data=body, headers=headers) as response:
            async for chunk in response.content.iter_any():
                if ttft is None and b"content_block_delta" in tail[-32:] + chunk:
                    ttft = time.perf_counter() - started
                tail = (tail + chunk)[-64:]
            status = response.status
            record_id = response.headers.get(RECORD_ID_HEADER, "")
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.fail(f"{type(exc).__name__}: {exc}")
        return None
    elapsed = time.perf_counter() - started
    if status != 200 or b"message_stop" not in tail:
        tally.fail(f"status {status}, stream tail {tail[-40:]!r}")
        return None
    tally.latency_ms.append(elapsed * 1000)
    if ttft is not None:
        tally.ttft_ms.append(ttft * 1000)
    return record_id


def row_count(conn: sqlite3.Connection) -> int:
    # max(seq) is an O(1) look-up at the end of the rowid b-tree; count(*) would scan.
    return int(conn.execute("SELECT coalesce(max(seq), 0) FROM requests").fetchone()[0])


def has_row(conn: sqlite3.Connection, record_id: str) -> bool:
    return conn.execute("SELECT 1 FROM requests WHERE id = ?", (record_id,)).fetchone() is not None


def wait_until(visible: Callable[[], bool]) -> float | None:
    """Seconds until ``visible()`` holds, or None past the deadline."""
    started = time.perf_counter()
    while not visible():
        if time.perf_counter() - started > LAG_DEADLINE_S:
            return None
        # A blocking sleep on purpose: nothing else runs in this process while lag is measured,
        # and an event-loop timer's granularity would inflate a millisecond-scale figure.
        time.sleep(LAG_POLL_S)
    return time.perf_counter() - started


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    body = Path(spec["body_file"]).read_bytes()
    headers = dict(spec.get("headers", {}))
    if spec.get("pace_ms"):
        headers["x-fake-pace-ms"] = str(spec["pace_ms"])
    connections = int(spec.get("connections", 1))
    duration = float(spec.get("duration", 0))
    limit = int(spec.get("requests", 0)) or 10**9
    url = spec["url"]
    connector = aiohttp.TCPConnector(limit=connections, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=60)
    warm = Tally()
    tally = Tally()
    lag_conn = None
    if spec.get("lag_db"):
        lag_conn = sqlite3.connect(f"file:{spec['lag_db']}?mode=ro", uri=True, timeout=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        base = row_count(lag_conn) if lag_conn is not None else 0
        for _ in range(int(spec.get("warmup", 0))):
            await one_request(session, url, body, headers, warm)
        if lag_conn is not None:
            conn = lag_conn
            if wait_until(lambda: row_count(conn) >= base + warm.sent) is None:
                warm.fail("warm-up records not visible within the lag deadline")
        started_wall = time.time()
        started = time.perf_counter()
        deadline = started + duration if duration else float("inf")
        issued = 0

        async def worker() -> None:
            nonlocal issued
            while issued < limit and time.perf_counter() < deadline:
                issued += 1
                record_id = await one_request(session, url, body, headers, tally)
                if lag_conn is not None:
                    tally.lag(lag_conn, record_id, base + warm.sent + tally.sent)

        workers = 1 if lag_conn is not None else connections
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - started
    if lag_conn is not None:
        lag_conn.close()
    return {
        "sent": warm.sent + tally.sent,
        "measured": tally.sent,
        "failures": warm.failures + tally.failures,
        "errors": warm.errors + tally.errors,
        "started_wall": started_wall,
        "elapsed_s": elapsed,
        "ok_per_s": len(tally.latency_ms) / elapsed if elapsed else 0.0,
        "latency_ms": tally.latency_ms,
        "ttft_ms": tally.ttft_ms,
        "lag_ms": tally.lag_ms,
        "lag_by_id": tally.lag_by_id,
    }


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh process and return its result."""
    budget = float(spec.get("duration", 0)) + GRACE_S
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=budget,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
