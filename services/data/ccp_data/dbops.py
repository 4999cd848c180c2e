"""The work behind ``ccp db``: import JSONL records, export CSV, check integrity.

Plain functions over a path or connection; ``cli.py`` parses arguments and maps errors.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ccp_shared.records import REQUEST_COLUMNS, RequestRecord
from ccp_shared.store import write_batch

IMPORT_BATCH = 500


@dataclass(slots=True)
class ImportReport:
    read: int = 0
    inserted: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def already_present(self) -> int:
        return self.read - self.inserted


def read_records(paths: Iterable[Path], report: ImportReport) -> Iterator[RequestRecord]:
    """Records from JSONL files; a bad line is noted in ``report`` and skipped, not fatal."""
    for path in paths:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = RequestRecord.from_json(line)
                except (ValueError, TypeError) as exc:
                    report.problems.append(f"{path}:{number}: {exc}")
                    continue
                report.read += 1
                yield record


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


def import_jsonl(conn: sqlite3.Connection, paths: Iterable[Path]) -> ImportReport:
    """Load lite-mode or spool records; idempotent (records already present are skipped)."""
    report = ImportReport()
    before = _count(conn)
    batch: list[RequestRecord] = []
    for record in read_records(paths, report):
        batch.append(record)
        if len(batch) >= IMPORT_BATCH:
            _write(conn, batch, report)
            batch = []
    _write(conn, batch, report)
    report.inserted = _count(conn) - before
    return report


def _write(conn: sqlite3.Connection, batch: list[RequestRecord], report: ImportReport) -> None:
    try:
        write_batch(conn, batch)
    except sqlite3.IntegrityError:
        # One bad record (e.g. a null required field) must not sink its whole batch.
        for record in batch:
            try:
                write_batch(conn, [record])
            except sqlite3.IntegrityError as exc:
                report.problems.append(f"record {record.id}: {exc}")


def export_csv(conn: sqlite3.Connection, out: TextIO) -> int:
    """Every request (no bodies) as CSV in recording order; returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow(REQUEST_COLUMNS)
    count = 0
    for row in conn.execute(f"SELECT {', '.join(REQUEST_COLUMNS)} FROM requests ORDER BY seq"):
        writer.writerow(row)
        count += 1
    return count


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    return [str(row[0]) for row in rows if row[0] != "ok"]
