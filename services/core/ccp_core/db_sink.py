"""Where the recorder's batches go when recording into the database.

Owned by the writer thread: it holds the only write connection, commits each batch in one
``BEGIN IMMEDIATE`` transaction and, when the database cannot take a write, appends the batch to
the spool instead. While the database is unhealthy, batches go straight to the spool (no waiting on
a lock per batch) and a probe runs about once a second; when the database takes writes again the
spool is replayed (idempotently, by request id) and each file is removed once committed.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ccp_core.spool import Spool, read_chunks
from ccp_shared.bodies import Keyframes
from ccp_shared.records import RequestRecord
from ccp_shared.store import connect, in_transaction, insert_records, schema_problem, write_batch

log = logging.getLogger(__name__)

# A record the database refuses for what it holds; the other records of its batch are still saved.
RECORD_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    sqlite3.DataError,
    OverflowError,
    TypeError,
    ValueError,
)


class DatabaseUnavailable(Exception):
    """The database does not exist, or lacks the schema this code writes."""


# The database cannot take any write now: locked, read-only, full, I/O error, schema behind…
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, OSError, DatabaseUnavailable)

PROBE_INTERVAL = 1.0
PROBE_BUSY_TIMEOUT = 0.2
# Replay steps between live batches: while it runs, new records wait in memory.
REPLAY_BUDGET = 0.1
MAX_REFUSALS = 3
REPLAY_CHUNK_BYTES = 32 * 1024 * 1024


class DatabaseSink:
    def __init__(
        self,
        db_path: Path,
        spool: Spool,
        *,
        busy_timeout: float = 2.0,
        batch_size: int = 200,
        probe_interval: float = PROBE_INTERVAL,
        max_refusals: int = MAX_REFUSALS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db_path = db_path
        self.spool = spool
        self.healthy = True
        self.written = 0
        self.replayed = 0
        self.spooled = 0
        self.write_errors = 0
        self.corrupt_lines = 0
        self.quarantined = 0
        self._busy_timeout = busy_timeout
        self._batch_size = batch_size
        self._probe_interval = probe_interval
        self._max_refusals = max_refusals
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._held: list[RequestRecord] = []
        self._next_probe = 0.0  # replay what a previous run left at the first tick
        self._refusals: dict[Path, int] = {}
        # Request bodies are stored as differences from these (ccp_shared.bodies); emptied with
        # the connection, so a database replaced meanwhile never gets a difference from a body
        # it does not hold.
        self.keyframes = Keyframes()

    # -- the Sink interface -------------------------------------------------------------------

    def open(self) -> None:
        try:
            self.spool.open()
        except OSError as exc:
            # Not fatal: the database may well take every record; appends retry the directory.
            log.error("cannot open the spool directory %s: %s", self.spool.directory, exc)
        try:
            self._connection()
        except UNAVAILABLE_ERRORS as exc:
            self._fail(exc)

    def write(self, records: Sequence[RequestRecord]) -> None:
        if not self.healthy:
            self.spill(records)
            return
        try:
            rejected = self._insert(records)
        except UNAVAILABLE_ERRORS as exc:
            self._fail(exc)
            self.spill(records)
            return
        self.written += len(records) - len(rejected)
        if rejected:
            # Spooled like any other record: the replay retries them, then sets the file aside.
            self.spill(rejected)

    def spill(self, records: Sequence[RequestRecord]) -> None:
        """Append to the spool; if even the disk refuses, hold them in memory and retry."""
        pending = [*self._held, *records]
        if not pending:
            return
        try:
            self.spool.append(pending)
        except OSError as exc:
            self.write_errors += 1
            # Retried on every tick: say it loudly once, not four times a second.
            report = log.debug if self._held else log.error
            report("cannot append %d records to the spool: %s", len(pending), exc)
            self._held = pending
            return
        self.spooled += len(pending)
        self._held = []

    def tick(self) -> None:
        if self._held:
            self.spill(())
        now = self._clock()
        if now < self._next_probe:
            return
        self._next_probe = now + self._probe_interval
        if not self.healthy:
            try:
                self._probe()
            except UNAVAILABLE_ERRORS as exc:
                log.debug("database still cannot take writes: %s", exc)
                return
            self.healthy = True
            log.warning("database %s takes writes again; replaying the spool", self.db_path)
        self._replay_spool()

    def close(self) -> None:
        self.spool.close()
        self._close_connection()

    @property
    def held(self) -> int:
        return len(self._held)

    def counters(self) -> dict[str, int]:
        return {
            "written": self.written,
            "replayed": self.replayed,
            "spooled": self.spooled,
            "spool_pending": self.spool.pending,
            "held": len(self._held),
            "write_errors": self.write_errors,
            "spool_corrupt_lines": self.corrupt_lines,
            "spool_failed_files": self.quarantined,
        }

    # -- writing ------------------------------------------------------------------------------

    def _insert(self, records: Sequence[RequestRecord]) -> list[RequestRecord]:
        """Commit ``records``; returns those the database refused for their content."""
        conn = self._connection()
        try:
            write_batch(conn, records, self.keyframes)
        except RECORD_ERRORS as exc:
            log.warning("a batch of %d records failed (%s); retrying row by row", len(records), exc)
            return self._insert_rows(conn, records)
        return []

    def _insert_rows(
        self, conn: sqlite3.Connection, records: Sequence[RequestRecord]
    ) -> list[RequestRecord]:
        rejected: list[RequestRecord] = []

        def insert_each() -> None:
            for record in records:
                conn.execute("SAVEPOINT record")
                try:
                    insert_records(conn, [record])
                except RECORD_ERRORS as exc:
                    conn.execute("ROLLBACK TO record")
                    rejected.append(record)
                    log.error("database refused record %s: %s", record.id, exc)
                conn.execute("RELEASE record")

        in_transaction(conn, insert_each)
        self.write_errors += len(rejected)
        return rejected

    def _connection(self, busy_timeout: float | None = None) -> sqlite3.Connection:
        if self._conn is None:
            if not self.db_path.exists():
                # connect() would create an empty file; that is `ccp db upgrade`'s job.
                raise DatabaseUnavailable(f"{self.db_path} does not exist; run `ccp db upgrade`")
            conn = connect(self.db_path, busy_timeout=busy_timeout or self._busy_timeout)
            try:
                problem = schema_problem(conn, writer=True)
            except BaseException:
                conn.close()
                raise
            if problem is not None:
                conn.close()
                raise DatabaseUnavailable(f"{self.db_path} {problem}")
            self._conn = conn
        return self._conn

    def _close_connection(self) -> None:
        self.keyframes.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                log.debug("closing the database connection: %s", exc)

    def _fail(self, exc: Exception) -> None:
        self.write_errors += 1
        self._close_connection()  # a fresh connection sees a database made writable again
        self._next_probe = self._clock() + self._probe_interval
        if self.healthy:
            log.warning(
                "database %s cannot take writes (%s); spooling records to %s",
                self.db_path,
                exc,
                self.spool.directory,
            )
        self.healthy = False

    def _probe(self) -> None:
        """Reconnect and take the write lock briefly: a short wait, so the queue keeps moving."""
        self._close_connection()
        conn = self._connection(busy_timeout=min(PROBE_BUSY_TIMEOUT, self._busy_timeout))
        try:
            in_transaction(conn, lambda: None)
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        except BaseException:
            self._close_connection()
            raise

    # -- replaying the spool ------------------------------------------------------------------

    def _replay_spool(self) -> None:
        self.spool.rotate()
        deadline = self._clock() + REPLAY_BUDGET
        for path in self.spool.files():
            if self._clock() > deadline:
                self._next_probe = 0.0  # more to do: continue after the queue had its turn
                return
            try:
                self._replay_file(path)
            except UNAVAILABLE_ERRORS as exc:
                self._fail(exc)
                return

    def _replay_file(self, path: Path) -> None:
        with self.spool.claim(path) as handle:
            if handle is None:
                return
            refused = 0
            corrupt: list[tuple[int, bytes]] = []
            for chunk in read_chunks(handle, self._batch_size, REPLAY_CHUNK_BYTES):
                for number, _ in chunk.corrupt:
                    log.warning("skipping corrupt line %d of spool file %s", number, path)
                corrupt.extend(chunk.corrupt)
                if chunk.records:
                    rejected = len(self._insert(chunk.records))
                    refused += rejected
                    self.replayed += len(chunk.records) - rejected
            if refused:
                self._refuse(path, refused)
                return
            self.corrupt_lines += len(corrupt)
            self._refusals.pop(path, None)
            try:
                self.spool.finish(path, corrupt)
            except OSError as exc:
                # Harmless: its records are committed, a later replay of it inserts nothing.
                log.error("cannot remove replayed spool file %s: %s", path, exc)
                return
            log.info("replayed spool file %s", path.name)

    def _refuse(self, path: Path, refused: int) -> None:
        count = self._refusals.get(path, 0) + 1
        self._refusals[path] = count
        if count < self._max_refusals:
            return
        try:
            target = self.spool.quarantine(path)
        except OSError as exc:
            log.error("cannot set aside spool file %s: %s", path, exc)
            return
        self._refusals.pop(path, None)
        self.quarantined += 1
        log.error(
            "the database refused %d records of %s %d times; kept as %s",
            refused,
            path.name,
            count,
            target.name,
        )
