"""Database access for proxy-data: a pool of read-only connections and short write transactions.

Reads run in a thread pool on read-only sqlite3 connections (one per thread), never on the event
loop, and each read has a time limit enforced by a progress handler, so one slow query cannot
hold a thread forever. Writers (indexer, rollups) own one connection each in their own thread and
wrap each batch in ``transaction()``: ``BEGIN IMMEDIATE`` takes the write lock up front and the
batch stays small, so proxy-core's writer never waits long.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from ccp_data.errors import DatabaseUnavailable, QueryTimeout
from ccp_shared.store import connect

P = ParamSpec("P")
T = TypeVar("T")

# How often (in SQLite VM steps) the progress handler checks the deadline.
_PROGRESS_STEPS = 2000
_UNAVAILABLE = frozenset(
    {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_CORRUPT", "SQLITE_NOTADB"}
)


def map_sqlite_error(exc: sqlite3.Error, path: Path) -> Exception:
    """The API error for a failed read; errors meaning a bug in our SQL come back unchanged."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_INTERRUPT":
        return QueryTimeout("the query took too long and was stopped; narrow the filters")
    if name in _UNAVAILABLE or name.startswith("SQLITE_IOERR"):
        return DatabaseUnavailable(f"database {path} cannot be read: {exc}")
    return exc


class ReadPool:
    """``await pool.read(fn, *args)`` runs ``fn(conn, *args)`` on a read-only connection."""

    def __init__(
        self, path: str | Path, *, size: int = 4, time_limit: float = 5.0, busy_timeout: float = 2.0
    ) -> None:
        self.path = Path(path)
        self.time_limit = time_limit
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="ccp-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def read(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._run, fn, *args, **kwargs)
        )

    def _run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        try:
            conn = self._connection()
            deadline = time.monotonic() + self.time_limit
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
            try:
                return fn(conn, *args, **kwargs)
            finally:
                conn.set_progress_handler(None, 0)
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc, self.path) from exc

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True, busy_timeout=self._busy_timeout)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error (conn is in autocommit mode)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
