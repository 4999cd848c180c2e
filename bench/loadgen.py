"""The load generator: bare HTTP/1.1 keep-alive clients in a process of their own.

``measure(spec)`` runs ``python -m bench.loadgen`` with a JSON spec and returns its JSON result,
so the client never shares a GIL with the proxy or the fake upstream it measures. A spec::

    {"url": "http://127.0.0.1:3001/v1/messages?beta=true", "body_file": "...first_turn.json",
     "headers": {...}, "connections": 32, "requests": 0, "duration": 10, "warmup": 20,
     "pace_ms": 0, "lag_db": null}

The client is an ``asyncio.Protocol`` per connection (uvloop) writing one pre-built request and
parsing the response with ``bench.http1``, not a general HTTP library: the load generator shares
the machine's cores with everything it measures, and a bare protocol spends a fraction of the CPU
per request that aiohttp's client does, so less of the figure is the client's own cost. Each
worker keeps one connection (``connections`` workers), reconnecting after a failure or when the
server closes.

Every request is a streamed ``POST``; it counts as a failure unless the status is 200 and the
stream ends with ``message_stop`` (a refused or reset connection, a malformed response and no
complete response within 60 s are failures too). ``latency_ms`` is send → last byte, ``ttft_ms``
send → first ``content_block_delta``. With ``lag_db`` set, requests run one at a time and after
each one the database is polled (read-only, every millisecond) until the request's record is
visible, found by the id proxy-core returns in ``ccp-request-id`` (``lag_ms``: response end → row
visible).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.http1 import MalformedResponse, ResponseParser, Target, build_request

ROOT = Path(__file__).resolve().parent.parent
LAG_DEADLINE_S = 5.0
LAG_POLL_S = 0.001
# Longest a measurement may take beyond its planned duration before it is called broken.
GRACE_S = 120.0
# proxy-core names the record of each request in this response header.
RECORD_ID_HEADER = "ccp-request-id"
REQUEST_TIMEOUT_S = 60.0
FIRST_DELTA = b"content_block_delta"
STREAM_END = b"message_stop"
# Bytes of decoded body kept to look for the markers across chunk boundaries; the final
# message_stop event is shorter than this.
TAIL = 64


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


@dataclass(slots=True)
class Exchange:
    """What one request saw, filled in by its connection as the bytes arrive."""

    started: float
    status: int = 0
    record_id: str = ""
    tail: bytes = b""
    ttft: float | None = None
    latency: float = 0.0

    def watch(self, piece: bytes) -> None:
        # The tail was searched when it arrived, so a marker found here is a new one.
        joined = self.tail + piece
        if self.ttft is None and FIRST_DELTA in joined:
            self.ttft = time.perf_counter() - self.started
        self.tail = joined[-TAIL:]


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.usable = False
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = ResponseParser()
        self._exchange: Exchange | None = None
        self._done: asyncio.Future[Exchange] | None = None

    def send(self, request: bytes) -> asyncio.Future[Exchange]:
        assert self._transport is not None  # send() only follows connection_made
        self._parser = ResponseParser()
        self._exchange = Exchange(time.perf_counter())
        self._done = self._loop.create_future()
        self._transport.write(request)
        return self._done

    def fail(self, exc: BaseException) -> None:
        """End the outstanding request (if any) with ``exc`` and drop the connection."""
        self.usable = False
        self._exchange = None
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        """Close gracefully; a request still outstanding fails as the connection goes."""
        self.usable = False
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.usable = True

    def data_received(self, data: bytes) -> None:
        exchange = self._exchange
        if exchange is None:
            self.fail(MalformedResponse("bytes from the server with no request outstanding"))
            return
        try:
            body = self._parser.feed(data)
        except MalformedResponse as exc:
            self.fail(exc)
            return
        if body:
            exchange.watch(body)
        if self._parser.done:
            self._finish(exchange)

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        exchange = self._exchange
        if exchange is None:
            return
        if exc is not None:
            self.fail(exc)
            return
        try:
            self._parser.eof()
        except MalformedResponse as error:
            self.fail(error)
        else:
            self._finish(exchange)

    def _finish(self, exchange: Exchange) -> None:
        exchange.latency = time.perf_counter() - exchange.started
        head = self._parser.head
        assert head is not None  # a parser is only done after its head
        exchange.status = head.status
        exchange.record_id = head.headers.get(RECORD_ID_HEADER, "")
        self._exchange = None
        if not head.keep_alive and self._transport is not None:
            self.usable = False
            self._transport.close()
        if self._done is not None and not self._done.done():
            self._done.set_result(exchange)


class Client:
    """A worker's connection to the target, opened on first use and again after it is lost."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._conn: Connection | None = None

    async def send(self) -> Exchange:
        deadline = asyncio.timeout(REQUEST_TIMEOUT_S)
        try:
            async with deadline:
                conn = self._conn
                if conn is None or not conn.usable:
                    conn = self._conn = await self._connect()
                return await conn.send(self._target.request)
        except BaseException:
            # Whatever went wrong, the connection's state is unknown: the next request
            # starts on a fresh one.
            if self._conn is not None:
                self._conn.fail(ConnectionAbortedError("request abandoned"))
                self._conn = None
            if deadline.expired():
                raise TimeoutError(f"no complete response within {REQUEST_TIMEOUT_S:g} s") from None
            raise

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(Connection, self._target.host, self._target.port)
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def one_request(client: Client, tally: Tally) -> str | None:
    """Send one streamed request; its proxy record id ("" when none was given), None on failure."""
    tally.sent += 1
    try:
        exchange = await client.send()
    except (OSError, MalformedResponse) as exc:
        tally.fail(f"{type(exc).__name__}: {exc}")
        return None
    if exchange.status != 200 or STREAM_END not in exchange.tail:
        tally.fail(f"status {exchange.status}, stream tail {exchange.tail[-40:]!r}")
        return None
    tally.latency_ms.append(exchange.latency * 1000)
    if exchange.ttft is not None:
        tally.ttft_ms.append(exchange.ttft * 1000)
    return exchange.record_id


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
    headers = dict(spec.get("headers", {}))
    if spec.get("pace_ms"):
        headers["x-fake-pace-ms"] = str(spec["pace_ms"])
    target = build_request(spec["url"], headers, Path(spec["body_file"]).read_bytes())
    connections = int(spec.get("connections", 1))
    duration = float(spec.get("duration", 0))
    limit = int(spec.get("requests", 0)) or 10**9
    warm = Tally()
    tally = Tally()
    lag_conn = None
    if spec.get("lag_db"):
        lag_conn = sqlite3.connect(f"file:{spec['lag_db']}?mode=ro", uri=True, timeout=5)
    workers = 1 if lag_conn is not None else connections
    # The warm-up's connection is the first worker's, as a pooled client would reuse it.
    clients = [Client(target) for _ in range(workers)]
    try:
        base = row_count(lag_conn) if lag_conn is not None else 0
        for _ in range(int(spec.get("warmup", 0))):
            await one_request(clients[0], warm)
        if lag_conn is not None:
            conn = lag_conn
            if wait_until(lambda: row_count(conn) >= base + warm.sent) is None:
                warm.fail("warm-up records not visible within the lag deadline")
        started_wall = time.time()
        started = time.perf_counter()
        deadline = started + duration if duration else float("inf")
        issued = 0

        async def worker(client: Client) -> None:
            nonlocal issued
            while issued < limit and time.perf_counter() < deadline:
                issued += 1
                record_id = await one_request(client, tally)
                if lag_conn is not None:
                    tally.lag(lag_conn, record_id, base + warm.sent + tally.sent)

        await asyncio.gather(*(worker(client) for client in clients))
        elapsed = time.perf_counter() - started
    finally:
        for client in clients:
            client.close()
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
    write_all(sys.stdout.fileno(), json.dumps(result).encode())


def write_all(fd: int, data: bytes) -> None:
    """Write every byte: json.dump makes a syscall per piece when stdout is unbuffered, and one
    ``write`` to a pipe left non-blocking (the event loop may leave it so) stops at 64 KiB."""
    os.set_blocking(fd, True)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
