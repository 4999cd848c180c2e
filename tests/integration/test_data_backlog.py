"""Issue #3 item 6: proxy-data works through a 20,000-request backlog while proxy-core serves
32 concurrent streams, and core never notices.

The backlog is written before the stack starts (as if proxy-data had been down for a while). Most
of it is short turns; at its end come sessions resumed with ~200 KB histories not stored yet (as
after `claude --resume`), the heaviest writes the indexer makes. Load
runs until both derived passes (indexer and rollups) have caught up. Then: no proxied request
failed, neither log mentions "database is locked", core never spooled (no failed write), every
proxied request was recorded, and the WAL stayed under 64 MB the whole time.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import string
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from ccp_shared.records import RequestRecord
from ccp_shared.store import connect, write_batch
from tests.integration.stack import FakeUpstreamProcess, Stack
from tests.support.polling import wait_until
from tests.support.recorded import record, streamed_reply

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TURNS = 20_000
SESSIONS = 400
RESUMED = 40
BACKLOG = TURNS + RESUMED
CONNECTIONS = 32
WAL_LIMIT = 64 * 1024 * 1024
CATCH_UP_DEADLINE = 300.0


def backlog_records(now: float) -> Iterator[RequestRecord]:
    """Claude Code-like sessions: each turn resends the history so far, as the client does."""
    turns = TURNS // SESSIONS
    for session_number in range(SESSIONS):
        session = str(uuid.UUID(int=session_number + 1))
        history: list[dict[str, str]] = []
        for turn in range(turns):
            history.append({"role": "user", "content": f"session {session_number} step {turn}"})
            body = {"model": "claude-sonnet-4-5", "stream": True, "messages": history}
            ts = now - 6 * 3600 + session_number * 50 + turn
            yield sonnet_turn(f"backlog-{session_number:04d}-{turn:03d}", ts, session, body, turn)
            history.append({"role": "assistant", "content": f"Sure, here is turn {turn}."})
    rng = random.Random(5)
    for number in range(RESUMED):
        ts = now - 5 * 3600 + number
        body = {"model": "claude-sonnet-4-5", "stream": True, "messages": resumed_history(rng)}
        session = str(uuid.UUID(int=SESSIONS + number + 1))
        yield sonnet_turn(f"resumed-{number:03d}", ts, session, body, 0)


def sonnet_turn(
    request_id: str, ts: float, session: str, body: dict[str, Any], turn: int
) -> RequestRecord:
    """A finished streamed request answering with the text the next turn's history repeats."""
    text = {"type": "text", "text": f"Sure, here is turn {turn}."}
    reply = streamed_reply([text], model="claude-sonnet-4-5")
    return record(body, ts=ts, response=reply, session_id=session, request_id=request_id)


def resumed_history(rng: random.Random, turns: int = 60) -> list[dict[str, Any]]:
    """A tool loop of ``turns`` calls, each with ~3 KB of output: about 200 KB of JSON."""

    def prose(words: int) -> str:
        return " ".join(
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(words)
        )

    items: list[dict[str, Any]] = [{"role": "user", "content": prose(50)}]
    for turn in range(turns):
        call = {"type": "tool_use", "id": f"t{turn}", "name": "Bash", "input": {"command": "ls"}}
        items.append({"role": "assistant", "content": [{"type": "text", "text": prose(20)}, call]})
        result = {"type": "tool_result", "tool_use_id": f"t{turn}", "content": prose(400)}
        items.append({"role": "user", "content": [result]})
    return items


def write_backlog(db_path: Path) -> None:
    conn = connect(db_path)
    batch: list[RequestRecord] = []
    try:
        for record in backlog_records(time.time()):
            batch.append(record)
            if len(batch) == 2000:
                write_batch(conn, batch)
                batch = []
        write_batch(conn, batch)
    finally:
        conn.close()


def progress(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        marks = dict(conn.execute("SELECT name, seq FROM indexer_state").fetchall())
        marks["requests"] = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        return marks
    finally:
        conn.close()


def wal_bytes(db_path: Path) -> int:
    try:
        return Path(f"{db_path}-wal").stat().st_size
    except FileNotFoundError:
        return 0


class Load:
    def __init__(self) -> None:
        self.ok = 0
        self.failures: list[str] = []
        self.max_wal = 0


async def stream_until(core_url: str, db_path: Path, load: Load) -> None:
    done = asyncio.Event()
    body = orjson.dumps(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 32,
            "stream": True,
            "messages": [{"role": "user", "content": "load"}],
        }
    )
    headers = {"x-api-key": "sk-ant-test-0000", "content-type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            try:
                async with client.stream("POST", "/v1/messages", content=body) as reply:
                    payload = await reply.aread()
                if reply.status_code != 200 or b"message_stop" not in payload:
                    load.failures.append(f"{reply.status_code}: {payload[-200:]!r}")
                else:
                    load.ok += 1
            except httpx.HTTPError as exc:
                load.failures.append(repr(exc))

    async def monitor() -> None:
        deadline = time.monotonic() + CATCH_UP_DEADLINE
        while time.monotonic() < deadline:
            load.max_wal = max(load.max_wal, wal_bytes(db_path))
            marks = await asyncio.to_thread(progress, db_path)
            if min(marks.get("indexer", 0), marks.get("rollups", 0)) >= BACKLOG:
                break
            await asyncio.sleep(0.2)
        else:
            load.failures.append(f"backlog not worked through in {CATCH_UP_DEADLINE}s: {marks}")
        done.set()

    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(
        base_url=core_url, headers=headers, limits=limits, timeout=60
    ) as client:
        await asyncio.gather(monitor(), *(worker(client) for _ in range(CONNECTIONS)))


def test_backlog_under_streaming_load_locks_nothing(tmp_path: Path) -> None:
    upstream = FakeUpstreamProcess(tmp_path / "upstream.log", "--events", "5", "--pace-ms", "2")
    upstream.start().wait_healthy()
    stack = Stack(tmp_path / "data", upstream.url)
    try:
        stack.upgrade()
        write_backlog(stack.db_path)
        stack.start(upgrade=False)
        load = Load()
        asyncio.run(stream_until(stack.core_url, stack.db_path, load))

        assert load.failures == [], load.failures[:5]
        assert load.ok > 0
        wait_until(
            lambda: progress(stack.db_path)["requests"] == BACKLOG + load.ok,
            30,
            "every proxied request recorded",
        )
        load.max_wal = max(load.max_wal, wal_bytes(stack.db_path))
        assert load.max_wal < WAL_LIMIT
        for service in (stack.core, stack.data):
            assert "database is locked" not in service.log_text(), service.log_tail()
        # Core never had to fall back to its spool: every write went straight in.
        core_metrics = httpx.get(f"{stack.core_url}/metrics").text
        assert "ccp_core_recorder_write_errors_total 0" in core_metrics

        def rolled_up() -> bool:
            stats = httpx.get(f"{stack.data_url}/api/stats", params={"since": "7h"}).json()
            return bool(stats["totals"]["requests"] == BACKLOG + load.ok)

        wait_until(rolled_up, 5, "every request in /api/stats")
    finally:
        stack.stop()
        upstream.stop()
