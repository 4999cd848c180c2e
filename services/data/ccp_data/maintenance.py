"""proxy-data's maintenance thread: rollups, their retention, and WAL checkpoints.

One thread owns one write connection. Every ``FAST_INTERVAL`` it rolls up the requests after its
watermark (so a finished request is in /api/stats within ~1 s) and checkpoints the WAL; every
``rollup.interval`` it deletes hourly rollups past ``rollup.retention_days``. A locked database
is not a failure — proxy-core has priority and the next tick retries; any other error is kept in
``status()`` and retried, so a transient fault never stops the rollups for good.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

from ccp_data import rollups, wal
from ccp_data.pricing import PriceTable
from ccp_shared.config import Config
from ccp_shared.store import connect

log = logging.getLogger("ccp_data.maintenance")

FAST_INTERVAL = 0.5
CHECKPOINT_INTERVAL = 1.0
# Bounded batches keep each write transaction short, so proxy-core never waits long.
ROLLUP_BATCH = 2000


class Maintenance:
    def __init__(self, config: Config, pricing: PriceTable) -> None:
        self.db_path = config.db_path
        self.pricing = pricing
        self.retention_days = int(config["rollup.retention_days"])
        self.retention_interval = float(config["rollup.interval"])
        self.busy_timeout = float(config["storage.busy_timeout"])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {
            "status": "stopped",
            "last_run": None,
            "watermark": 0,
            "error": None,
            "wal_bytes": 0,
            "retention_deleted": 0,
        }

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._set(status="running")
        self._thread = threading.Thread(target=self._loop, name="ccp-maintenance", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            if self._state["status"] != "failed":  # keep the reason it died
                self._state["status"] = "stopped"

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def _set(self, **values: Any) -> None:
        with self._lock:
            self._state.update(values)

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(self.db_path, busy_timeout=self.busy_timeout)
            # When our connection resets the WAL it also trims the file back to this size.
            conn.execute(f"PRAGMA journal_size_limit={wal.TRUNCATE_ABOVE_BYTES}")
            next_retention = next_checkpoint = 0.0
            while not self._stop.is_set():
                now = time.time()
                try:
                    self.roll_up(conn)
                    if now >= next_retention:
                        self._retain(conn)
                        next_retention = now + self.retention_interval
                    if now >= next_checkpoint:
                        self._checkpoint(conn)
                        next_checkpoint = now + CHECKPOINT_INTERVAL
                    self._set(error=None)
                except sqlite3.OperationalError as exc:
                    # Locked/busy: proxy-core has priority, the next tick retries quietly.
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        log.warning("maintenance pass failed (will retry): %s", exc)
                        self._set(error=f"{type(exc).__name__}: {exc}")
                self._stop.wait(FAST_INTERVAL)
        except Exception as exc:
            # A bug, not a transient fault: report it through status() (health shows it).
            log.exception("maintenance thread stopped")
            self._set(status="failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            if conn is not None:
                conn.close()

    def _retain(self, conn: sqlite3.Connection) -> None:
        deleted = rollups.apply_retention(conn, self.retention_days)
        with self._lock:
            self._state["retention_deleted"] += deleted

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        result = wal.checkpoint(conn, self.db_path, busy_timeout_ms=int(self.busy_timeout * 1000))
        self._set(wal_bytes=result.wal_bytes)

    def roll_up(self, conn: sqlite3.Connection) -> int:
        """Everything pending, batch by batch; stops early when asked to stop."""
        total = 0
        while not self._stop.is_set():
            done = rollups.run_once(
                conn, self.pricing, batch_size=ROLLUP_BATCH, retention_days=self.retention_days
            )
            total += done
            if done < ROLLUP_BATCH:
                break
        self._set(last_run=time.time(), watermark=rollups.read_watermark(conn))
        return total
