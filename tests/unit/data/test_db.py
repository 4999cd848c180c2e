from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from ccp_data.db import ReadPool, transaction
from ccp_data.errors import DatabaseUnavailable, QueryTimeout
from ccp_shared.store import connect

SLOW = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM n WHERE i < 1e12"
)


def count_requests(conn: sqlite3.Connection, extra: int = 0) -> int:
    return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0]) + extra


def test_reads_run_on_read_only_connections(data_dir: Path) -> None:
    pool = ReadPool(data_dir / "ccp.db", size=2)

    def try_write(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM requests")

    async def scenario() -> int:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await pool.read(try_write)
        return await pool.read(count_requests, extra=2)

    try:
        assert asyncio.run(scenario()) == 2
    finally:
        pool.close()


def test_a_slow_read_is_cut_off_and_the_thread_reused(data_dir: Path) -> None:
    pool = ReadPool(data_dir / "ccp.db", size=1, time_limit=0.2)

    def slow(conn: sqlite3.Connection) -> int:
        return int(conn.execute(SLOW).fetchone()[0])

    async def scenario() -> int:
        with pytest.raises(QueryTimeout):
            await pool.read(slow)
        return await pool.read(count_requests)

    try:
        assert asyncio.run(scenario()) == 0
    finally:
        pool.close()


def test_a_missing_database_is_unavailable(tmp_path: Path) -> None:
    pool = ReadPool(tmp_path / "absent.db")
    try:
        with pytest.raises(DatabaseUnavailable, match=r"absent\.db"):
            asyncio.run(pool.read(count_requests))
    finally:
        pool.close()


def test_transaction_commits_or_rolls_back(data_dir: Path) -> None:
    conn = connect(data_dir / "ccp.db")
    with transaction(conn):
        conn.execute("INSERT INTO indexer_state VALUES ('t', 1, 0)")
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("UPDATE indexer_state SET seq = 2 WHERE name = 't'")
        raise RuntimeError("abort")
    assert conn.execute("SELECT seq FROM indexer_state WHERE name = 't'").fetchone()[0] == 1
    conn.close()
