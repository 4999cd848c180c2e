"""The recorder: records leave the event loop at once and are written by one thread, in batches.

``submit()`` runs on the event loop and only appends to a deque (and sets an Event when the writer
may be waiting), so recording never slows the proxy; when the queue is half full it also lets go
of the GIL once, so a busy event loop cannot starve the writer into spooling. The writer thread
masks secrets, waits up to ``flush_interval`` for a batch to fill, and hands it to a sink: the
database (with the spool as fallback) or, in lite mode, JSONL files. When the queue is full
(``queue_size`` records, or ``queue_bytes`` of bodies: a Claude Code request is 50 KB and more, so
a count alone does not bound memory), records go to an overflow list that the writer appends to
the spool before anything else: nothing is dropped, and memory stays bounded while the database
falls behind.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from ccp_core.db_sink import DatabaseSink
from ccp_core.hash_key import load_hash_key
from ccp_core.lite import JsonlSink
from ccp_core.masking import mask_record
from ccp_core.spool import Spool
from ccp_shared.config import Config
from ccp_shared.records import RequestRecord

log = logging.getLogger(__name__)

# How often an idle writer looks up (database probe, spool replay, held records).
TICK_INTERVAL = 0.25


class Sink(Protocol):
    """Where prepared (masked) batches go; called from the writer thread only."""

    @property
    def healthy(self) -> bool: ...

    @property
    def held(self) -> int: ...

    def open(self) -> None: ...

    def write(self, records: Sequence[RequestRecord]) -> None: ...

    def spill(self, records: Sequence[RequestRecord]) -> None: ...

    def tick(self) -> None: ...

    def close(self) -> None: ...

    def counters(self) -> dict[str, int]: ...


def yield_gil() -> None:
    """Let a thread waiting for the GIL take it now (``sleep(0)`` releases it)."""
    time.sleep(0)


def body_size(record: RequestRecord) -> int:
    """The bytes a record holds in memory, near enough: its two bodies."""
    return len(record.request_body or b"") + len(record.response_body or b"")


class Recorder:
    def __init__(
        self,
        sink: Sink,
        hash_key: bytes,
        *,
        queue_size: int = 10000,
        queue_bytes: int = 8 * 1024 * 1024,
        batch_size: int = 200,
        flush_interval: float = 0.05,
    ) -> None:
        self._sink = sink
        self._hash_key = hash_key
        self._queue_size = max(1, queue_size)
        self._queue_bytes = max(1, queue_bytes)
        # A transaction (or a spool append) holds a few MB at most, so the writer comes back
        # to the overflow often and one batch's copies never add up to much.
        self._batch_bytes = max(1, self._queue_bytes // 4)
        self._batch_size = max(1, batch_size)
        self._flush_interval = flush_interval
        self._queue: deque[RequestRecord] = deque()
        self._overflow: deque[RequestRecord] = deque()
        # Bytes in the queue = added - taken; each counter has one writing thread, so no lock.
        self._added_bytes = 0
        self._taken_bytes = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._late = threading.Lock()
        self._overflowed = 0
        self._dropped = 0
        self._errors = 0
        self._closed = False

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="ccp-recorder", daemon=True)
        self._thread.start()

    def submit(self, record: RequestRecord) -> None:
        """Hand a finished record over; called on the event loop, never waits on I/O, never raises.

        While the database takes writes but the queue is half full, it lets go of the GIL once
        (see below): the writer's Python work between its SQLite calls then runs now, holding
        the loop for as long as that work takes (a fraction of a millisecond per statement),
        instead of later, after the queue has overflowed to the spool and every record costs
        that work twice (spool line, then replay). The writer needs the same GIL time either
        way; the yield only moves it earlier. Never while the writer is spooling: a database
        that cannot take writes must not cost the proxy anything.
        """
        try:
            if self._stopping.is_set():
                self._submit_while_stopping(record)
                return
            if len(self._queue) >= self._queue_size or self._queued_bytes() >= self._queue_bytes:
                self._overflow.append(record)
                self._overflowed += 1
                self._wake.set()
                return
            self._queue.append(record)
            self._added_bytes += body_size(record)
            # Wake the writer when it may be idle, or when a batch is full; not on every record.
            if len(self._queue) == 1 or self._batch_ready():
                self._wake.set()
            if self._falling_behind():
                # The writer needs the GIL between its SQLite calls, and a busy event loop lets
                # go of it only every switch interval (5 ms): under sustained load the writer
                # then falls behind and records overflow to the spool, to be written twice.
                # Letting go here gives it its turn before the queue fills.
                yield_gil()
        except Exception:  # the proxy must not fail because recording did
            log.exception("recorder: could not accept record %s", getattr(record, "id", "?"))

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything still queued (to the database or the spool), then end the thread."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is None and not self._closed:
            self._run()  # never started: write what was submitted, here
            return
        if thread is None or not thread.is_alive():
            return
        thread.join(timeout)
        if thread.is_alive():
            log.error(
                "recorder: %d records still queued after %.1fs; they may be lost at exit",
                len(self._queue) + len(self._overflow),
                timeout,
            )

    def stats(self) -> dict[str, int]:
        counters = self._sink.counters()
        return {
            **counters,
            "queue_depth": len(self._queue) + len(self._overflow),
            "queue_bytes": self._queued_bytes(),
            "overflowed": self._overflowed,
            "write_errors": counters.get("write_errors", 0) + self._errors,
            "dropped": self._dropped,
        }

    def database_ok(self) -> bool:
        return self._sink.healthy

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        self._guard("opening", self._sink.open)
        while True:
            self._wait_for_batch()
            # Only what overflowed so far: a flood of new overflow must not starve the queue.
            pending = len(self._overflow)
            while pending > 0 and self._overflow:
                batch = self._take(self._overflow)
                pending -= len(batch)
                self._write(batch, spill=True)
            if self._queue:
                batch = self._take(self._queue)
                self._taken_bytes += sum(body_size(record) for record in batch)
                self._write(batch, spill=False)
            # Replaying the spool during a burst would only make the burst's records wait (in
            # memory) behind older ones: it waits until the writer has caught up.
            if not self._sink.healthy or not self._backlogged():
                self._guard("maintenance", self._sink.tick)
            if self._stopping.is_set():
                with self._late:
                    if not self._queue and not self._overflow:
                        self._closed = True
                        break
        self._finish()

    def _wait_for_batch(self) -> None:
        if not self._queue and not self._overflow:
            if self._stopping.is_set():
                return
            self._wake.wait(TICK_INTERVAL)
            self._wake.clear()
        if not self._queue:
            return
        # Linger so one transaction carries many records, but never past flush_interval.
        deadline = time.monotonic() + self._flush_interval
        while not self._batch_ready() and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._wake.wait(remaining)
            self._wake.clear()

    def _falling_behind(self) -> bool:
        """The database takes writes, but the writer lags: the queue is half full."""
        return self._sink.healthy and (
            len(self._queue) * 2 >= self._queue_size
            or self._queued_bytes() * 2 >= self._queue_bytes
        )

    def _queued_bytes(self) -> int:
        return self._added_bytes - self._taken_bytes

    def _backlogged(self) -> bool:
        return bool(self._overflow) or self._batch_ready()

    def _batch_ready(self) -> bool:
        return len(self._queue) >= self._batch_size or self._queued_bytes() >= self._batch_bytes

    def _take(self, source: deque[RequestRecord]) -> list[RequestRecord]:
        """The next batch: up to ``batch_size`` records and about ``batch_bytes`` of bodies."""
        batch: list[RequestRecord] = []
        size = 0
        while source and len(batch) < self._batch_size and size < self._batch_bytes:
            record = source.popleft()
            batch.append(record)
            size += body_size(record)
        return batch

    def _write(self, batch: list[RequestRecord], *, spill: bool) -> None:
        prepared = [self._prepare(record) for record in batch]
        try:
            if spill:
                self._sink.spill(prepared)
            else:
                self._sink.write(prepared)
        except Exception:
            # One odd batch must not kill the thread; the spool is the last place it can go.
            self._errors += 1
            log.exception("recorder: writing %d records failed; spooling them", len(prepared))
            try:
                self._sink.spill(prepared)
            except Exception:
                self._dropped += len(prepared)
                log.exception("recorder: %d records could not be spooled", len(prepared))

    def _prepare(self, record: RequestRecord) -> RequestRecord:
        try:
            return mask_record(record, self._hash_key)
        except Exception:
            # Never write headers we could not mask; the rest of the record is still worth keeping.
            self._errors += 1
            log.exception("recorder: could not mask the headers of %s", record.id)
            return dataclasses.replace(record, request_headers={}, response_headers={})

    def _guard(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            self._errors += 1
            log.exception("recorder: %s failed", what)

    def _finish(self) -> None:
        self._guard("closing", self._sink.close)
        if self._sink.held:
            self._dropped += self._sink.held
            log.error("recorder: %d records could be written nowhere", self._sink.held)

    def _submit_while_stopping(self, record: RequestRecord) -> None:
        # The lock orders this against the writer's last look at the queue.
        with self._late:
            if not self._closed and self._writer_alive():
                self._queue.append(record)
                self._added_bytes += body_size(record)
                self._wake.set()
                return
            # Finished after the writer ended, so this runs on the event loop: no database work
            # here, only a spool append (replayed at the next start), then the file is let go.
            self._write([record], spill=True)
            self._guard("closing", self._sink.close)

    def _writer_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def open_recorder(config: Config) -> Recorder:
    """The recorder ``config`` asks for: the database (with a spool) or lite mode's JSONL files."""
    sink: Sink
    if config.persist:
        sink = DatabaseSink(
            config.db_path,
            Spool(config.spool_dir),
            busy_timeout=float(config["storage.busy_timeout"]),
            batch_size=int(config["recorder.batch_size"]),
        )
    else:
        sink = JsonlSink(config.records_dir)
    return Recorder(
        sink,
        load_hash_key(config),
        queue_size=int(config["recorder.queue_size"]),
        queue_bytes=int(config["recorder.queue_bytes"]),
        batch_size=int(config["recorder.batch_size"]),
        flush_interval=float(config["recorder.flush_interval"]),
    )
