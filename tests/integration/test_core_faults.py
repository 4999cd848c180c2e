"""proxy-core keeps serving and loses no record when the database fails (issue #2, items 9, 10).

A real proxy-core process in front of the fake upstream; the database is locked by another
process, made read-only, or proxy-core is killed with SIGKILL in the middle of streams.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.core_process import base_url, running_core
from tests.integration.stack import Service
from tests.support.fake_upstream import FakeUpstream
from tests.support.polling import wait_until
from tests.support.recorded_ids import ids_in

pytestmark = pytest.mark.integration

API_KEY = "sk-ant-api03-core-faults-RAW-KEY-0123456789abcdef"
HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
LOCK_SECONDS = 10.0
REQUESTS = 200

# Another process taking the database's write lock, held until the test writes a line to it.
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def body(n: int, *, stream: bool) -> bytes:
    return orjson.dumps(
        {
            "model": "claude-sonnet-4-5",
            "stream": stream,
            "max_tokens": 32,
            "messages": [{"role": "user", "content": f"request {n}"}],
        }
    )


async def _send(url: str, count: int, extra: dict[str, str]) -> list[str]:
    """``count`` concurrent requests, half of them streaming; the ids core gave them."""
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(n: int) -> str:
            stream = n % 2 == 0
            response = await client.post(
                f"{url}/v1/messages", content=body(n, stream=stream), headers={**HEADERS, **extra}
            )
            assert response.status_code == 200, response.text
            if stream:
                assert b"event: message_stop" in response.content
            else:
                assert response.json()["type"] == "message"
            return response.headers["ccp-request-id"]

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def send(core: Service, count: int, **extra: str) -> list[str]:
    return asyncio.run(_send(base_url(core), count, extra))


def spooled_ids(data_dir: Path) -> set[str]:
    ids: set[str] = set()
    for path in (data_dir / "spool").glob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            try:
                ids.add(orjson.loads(line)["id"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue  # a line torn by the kill: it never reached the spool whole
    return ids


def health(core: Service) -> dict[str, object]:
    response = httpx.get(core.health_url, timeout=5)
    result: dict[str, object] = response.json()
    return result


def spool_pending(core: Service) -> int:
    spool = health(core)["spool"]
    assert isinstance(spool, dict)
    return int(spool["pending"])


def wait_all_recorded(db: Path, expected: set[str], timeout: float = 30.0) -> None:
    wait_until(lambda: expected <= set(ids_in(db)), timeout, f"{len(expected)} records in {db}")
    recorded = ids_in(db)
    assert len(recorded) == len(set(recorded)), "a record was written twice"


def assert_no_raw_key(data_dir: Path) -> None:
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix != ".log":
            assert API_KEY.encode() not in path.read_bytes(), f"raw API key in {path}"


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(record=False) as up:
        yield up


@pytest.fixture
def lock_holder(data_dir: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def take_lock() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(data_dir / "ccp.db")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"locked\n"
        return proc

    yield take_lock
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def release(holder: subprocess.Popen[bytes]) -> None:
    assert holder.stdin is not None
    holder.stdin.write(b"release\n")
    holder.stdin.flush()
    assert holder.wait(10) == 0


def test_requests_succeed_while_another_process_holds_the_database(
    data_dir: Path,
    upstream: FakeUpstream,
    lock_holder: Callable[[], subprocess.Popen[bytes]],
) -> None:
    db = data_dir / "ccp.db"
    with running_core(data_dir, upstream.url) as core:
        holder = lock_holder()
        locked_at = time.monotonic()
        ids = send(core, REQUESTS)
        assert time.monotonic() - locked_at < LOCK_SECONDS, "requests waited for the lock"
        assert holder.poll() is None
        wait_until(lambda: spool_pending(core) == REQUESTS, 15, "every record spooled")
        assert health(core)["database"] == {"status": "error", "path": str(db)}
        assert_no_raw_key(data_dir)

        time.sleep(max(0.0, LOCK_SECONDS - (time.monotonic() - locked_at)))
        release(holder)
        wait_all_recorded(db, set(ids))
        wait_until(lambda: spool_pending(core) == 0, 15, "the spool drained")
        assert len(ids_in(db)) == REQUESTS
        assert health(core)["status"] == "ok"
    assert list((data_dir / "spool").glob("*")) == []


def test_requests_succeed_while_the_database_is_read_only(
    data_dir: Path, upstream: FakeUpstream, immutable: Callable[..., None]
) -> None:
    db = data_dir / "ccp.db"
    with running_core(data_dir, upstream.url) as core:
        first = send(core, 1)
        wait_all_recorded(db, set(first))  # the writer is connected, the WAL file exists
        # Never the -shm file: SQLite maps it, and a write to an immutable mapping is a SIGBUS.
        files = [db, db.with_name("ccp.db-wal")]
        immutable(*files)
        ids = send(core, REQUESTS)
        wait_until(lambda: spool_pending(core) == REQUESTS, 15, "every record spooled")
        assert health(core)["database"] == {"status": "error", "path": str(db)}
        subprocess.run(["chattr", "-i", *files], check=True)
        wait_all_recorded(db, set(ids))
        wait_until(lambda: spool_pending(core) == 0, 15, "the spool drained")
    assert len(ids_in(db)) == REQUESTS + 1


def test_kill_9_during_streams_loses_nothing_that_reached_the_spool(
    data_dir: Path,
    upstream: FakeUpstream,
    lock_holder: Callable[[], subprocess.Popen[bytes]],
) -> None:
    db = data_dir / "ccp.db"
    env = {"CCP_STORAGE__BUSY_TIMEOUT": "300ms"}
    with running_core(data_dir, upstream.url, env=env) as core:
        committed = send(core, 16)
        wait_all_recorded(db, set(committed))
        holder = lock_holder()
        spooled = send(core, 16)
        wait_until(lambda: spool_pending(core) >= 16, 15, "16 records spooled")

        # 32 streams of different lengths: some finish (and are recorded) before the kill.
        ended: list[int] = []

        async def streams() -> None:
            async with httpx.AsyncClient(timeout=30) as client:

                async def one(n: int) -> None:
                    headers = {**HEADERS, "x-fake-events": str(2 + n), "x-fake-pace-ms": "40"}
                    url = f"{base_url(core)}/v1/messages"
                    try:
                        async with client.stream(
                            "POST", url, content=body(n, stream=True), headers=headers
                        ) as response:
                            async for _ in response.aiter_raw():
                                pass
                        ended.append(n)
                    except httpx.HTTPError:
                        pass  # cut by the kill

                await asyncio.gather(*(one(n) for n in range(32)))

        def kill_when_half_done() -> None:
            upstream.wait_for(lambda up: up.served >= 16 + 16 + 32, timeout=10)
            # Half of the streams have ended and at least one of their records reached the spool;
            # the longer half is still streaming when the process dies.
            wait_until(
                lambda: len(ended) >= 16 and spool_pending(core) > 16,
                15,
                "half of the streams ended, one of them spooled",
            )
            assert core.proc is not None
            core.proc.send_signal(signal.SIGKILL)

        async def scenario() -> None:
            await asyncio.gather(streams(), asyncio.to_thread(kill_when_half_done))

        asyncio.run(scenario())
        assert core.proc is not None and core.proc.wait(10) == -signal.SIGKILL

    release(holder)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    in_spool = spooled_ids(data_dir)
    assert set(spooled) <= in_spool
    assert len(in_spool) > len(spooled)  # streams that ended before the kill were spooled too
    with running_core(data_dir, upstream.url, env=env):
        wait_all_recorded(db, in_spool | set(committed))
        wait_until(lambda: not list((data_dir / "spool").glob("*.jsonl")), 15, "spool replayed")
    assert_no_raw_key(data_dir)
