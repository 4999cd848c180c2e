"""A recorder that keeps records in memory, for tests of code that only submits to one.

It has the shape of ``ccp_core.state.RecorderLike``; the real recorder has its own tests.
"""

from __future__ import annotations

from ccp_shared.records import RequestRecord


class FakeRecorder:
    """Keeps submitted records; ``healthy`` and ``pending`` are set by tests to fake trouble."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.started = self.stopped = False
        self.healthy = True
        self.pending = 0

    def start(self) -> None:
        self.started = True

    def submit(self, record: RequestRecord) -> None:
        self.records.append(record)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped = True

    def stats(self) -> dict[str, int]:
        return {"queue_depth": 0, "written": len(self.records), "spool_pending": self.pending}

    def database_ok(self) -> bool:
        return self.healthy
