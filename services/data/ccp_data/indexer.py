"""The indexer service: one thread, one write connection, short transactions from a watermark.

Every ``indexer.interval`` it indexes the requests core wrote since the watermark, in batches of
at most ``indexer.batch_size`` requests, parsed before any lock is taken. A batch is written in
short ``BEGIN IMMEDIATE`` transactions, each bounded by the bytes it stores and each moving the
watermark past what it finished — so a restart resumes exactly where it stopped, nothing is
indexed twice, and proxy-core's writer never waits long for the lock.
A locked database is not a failure (core holds the lock briefly; the next tick retries); any other
error stops the thread and ``status()`` reports it, which turns proxy-data's health to 503.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from ccp_data import indexing
from ccp_data.db import transaction
from ccp_data.history import Histories
from ccp_shared.config import Config
from ccp_shared.store import connect

log = logging.getLogger("ccp_data.indexer")

OnIndexed = Callable[[list[int]], None]

STARTING, RUNNING, STOPPED, FAILED = "starting", "running", "stopped", "failed"


class IndexerError(RuntimeError):
    """The indexer cannot run against this database (FTS5 missing, tables missing)."""


def check_fts5(conn: sqlite3.Connection) -> None:
    """Raise IndexerError unless this SQLite has FTS5 and the database has the search table."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.ccp_fts5_probe USING fts5(x)")
        conn.execute("DROP TABLE temp.ccp_fts5_probe")
    except sqlite3.OperationalError as exc:
        raise IndexerError(
            f"SQLite {sqlite3.sqlite_version} lacks FTS5 ({exc}); proxy-data needs an SQLite "
            "built with FTS5 (Python's official builds have it)"
        ) from None
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages_fts'"
    ).fetchone()
    if not found:
        raise IndexerError("the database has no messages_fts table; run `ccp db upgrade`")


class Indexer:
    def __init__(self, config: Config, on_indexed: OnIndexed | None = None) -> None:
        self.db_path = config.db_path
        self.interval = float(config["indexer.interval"])
        self.batch_size = int(config["indexer.batch_size"])
        self.busy_timeout = float(config["storage.busy_timeout"])
        self.on_indexed = on_indexed
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._status = STOPPED
        self._error: str | None = None
        self._last_run: float | None = None
        self._lag = 0.0
        self._conversations = 0
        self._watermark = 0
        self._histories = Histories()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = connect(self.db_path, busy_timeout=self.busy_timeout)
            conn.row_factory = sqlite3.Row
            try:
                check_fts5(conn)
            except IndexerError:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def start(self) -> None:
        """Check the database (raising IndexerError) and start the indexing thread."""
        if self._thread is not None:
            return
        self._connection()
        self._stop.clear()
        self._set(status=STARTING, error=None)
        self._thread = threading.Thread(target=self._loop, name="ccp-indexer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with self._lock:
            if self._status != FAILED:
                self._status = STOPPED

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "status": self._status,
                "last_run": self._last_run,
                "conversations_indexed": self._conversations,
                "lag_seconds": round(self._lag, 3),
                "watermark": self._watermark,
                "error": self._error,
            }

    def run_once(self) -> int:
        """Index everything pending, batch by batch; the number of requests indexed."""
        return self._drain(lambda: False)

    def _drain(self, stopping: Callable[[], bool]) -> int:
        conn = self._connection()
        total = 0
        try:
            while not stopping():
                done = self._run_batch(conn, stopping)
                if not done:
                    break
                total += done
        finally:
            self._refresh(conn)  # also when a batch failed: the lag then shows how far behind
        return total

    def _run_batch(self, conn: sqlite3.Connection, stopping: Callable[[], bool]) -> int:
        watermark = indexing.read_watermark(conn)
        # Parse bodies before taking the write lock, so the transaction stays short.
        batch = list(indexing.pending(conn, watermark, self.batch_size, self._histories))
        done = 0
        while done < len(batch):
            # Each transaction stores what fits its byte budget; between two, core may write.
            with transaction(conn):
                stored = indexing.write(conn, batch[done:])
            if stored and self.on_indexed is not None:
                self.on_indexed([a.seq for a in batch[done : done + stored]])
            done += stored
            if stopping():
                break
        return done

    def _refresh(self, conn: sqlite3.Connection) -> None:
        watermark = indexing.read_watermark(conn)
        oldest = conn.execute(
            "SELECT ts_start FROM requests WHERE seq > ? ORDER BY seq LIMIT 1", (watermark,)
        ).fetchone()
        conversations = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
        now = time.time()
        self._set(
            last_run=now,
            lag=max(0.0, now - oldest[0]) if oldest else 0.0,
            conversations=int(conversations),
            watermark=watermark,
        )

    def _loop(self) -> None:
        self._set(status=RUNNING)
        while not self._stop.is_set():
            try:
                self._drain(self._stop.is_set)
                self._set(status=RUNNING, error=None)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    self._fail(exc)
                    return
                log.info("indexer: database busy, retrying next tick")
            except Exception as exc:
                self._fail(exc)
                return
            self._stop.wait(self.interval)

    def _fail(self, exc: BaseException) -> None:
        log.exception("indexer stopped: %s", exc)
        self._set(status=FAILED, error=f"{type(exc).__name__}: {exc}")

    def _set(self, **values: Any) -> None:
        with self._lock:
            for name, value in values.items():
                setattr(self, f"_{name}", value)
