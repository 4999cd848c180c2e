"""Lite mode's sink: records go to ``records/YYYY-MM-DD.jsonl`` (UTC day of ``ts_start``) only.

No database is opened. Lines have the spool's shape, so ``ccp db import --jsonl`` loads them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccp_core.spool import encode_line
from ccp_shared.records import RequestRecord

log = logging.getLogger(__name__)


def day_file_name(ts_start: Any) -> str:
    """``"2026-12-01.jsonl"`` for the UTC day of ``ts_start`` (today's for a nonsense value)."""
    try:
        moment = datetime.fromtimestamp(float(ts_start), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        moment = datetime.fromtimestamp(time.time(), UTC)
    return f"{moment:%Y-%m-%d}.jsonl"


class JsonlSink:
    healthy = True  # there is no database to be unhealthy

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.written = 0
        self.write_errors = 0
        self._held: list[RequestRecord] = []

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, records: Sequence[RequestRecord]) -> None:
        by_day: dict[str, list[RequestRecord]] = {}
        for record in [*self._held, *records]:
            by_day.setdefault(day_file_name(record.ts_start), []).append(record)
        self._held = []
        for name, day_records in by_day.items():
            try:
                self._append(name, day_records)
            except OSError as exc:
                self.write_errors += 1
                self._held.extend(day_records)
                log.error("cannot append %d records to %s: %s", len(day_records), name, exc)
                continue
            self.written += len(day_records)

    spill = write

    def tick(self) -> None:
        if self._held:
            self.write(())

    def close(self) -> None:
        """Nothing stays open between batches."""

    @property
    def held(self) -> int:
        return len(self._held)

    def counters(self) -> dict[str, int]:
        return {
            "written": self.written,
            "spool_pending": 0,
            "held": len(self._held),
            "write_errors": self.write_errors,
        }

    def _append(self, name: str, records: Sequence[RequestRecord]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / name).open("ab") as handle:
            handle.write(b"".join(encode_line(record) for record in records))
