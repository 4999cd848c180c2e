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

from ccp_shared.bodies import UNREBUILDABLE_COUNT_SQL
from ccp_shared.records import REQUEST_COLUMNS, RequestRecord
from ccp_shared.store import insert_records

# A transaction holds the write lock proxy-core needs for its own records (it spools while it
# waits), so it is bounded by size as well as count: Claude Code records are ~300 KB each.
IMPORT_BATCH = 500
IMPORT_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class ImportReport:
    read: int = 0
    inserted: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def already_present(self) -> int:
        return self.read - self.inserted


def read_records(
    paths: Iterable[Path], report: ImportReport
) -> Iterator[tuple[RequestRecord, int]]:
    """Records from JSONL files with their size in bytes; a bad line is noted in ``report`` and
    skipped, not fatal."""
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
                yield record, len(line)


def import_jsonl(
    conn: sqlite3.Connection,
    paths: Iterable[Path],
    *,
    batch_size: int = IMPORT_BATCH,
    batch_bytes: int = IMPORT_BATCH_BYTES,
) -> ImportReport:
    """Load lite-mode or spool records; idempotent (records already present are skipped)."""
    report = ImportReport()
    batch: list[RequestRecord] = []
    size = 0
    for record, record_size in read_records(paths, report):
        batch.append(record)
        size += record_size
        if len(batch) >= batch_size or size >= batch_bytes:
            _write(conn, batch, report)
            batch, size = [], 0
    _write(conn, batch, report)
    return report


def _write(conn: sqlite3.Connection, batch: list[RequestRecord], report: ImportReport) -> None:
    try:
        report.inserted += _insert_new(conn, batch)
    except sqlite3.IntegrityError:
        # One bad record (e.g. a null required field) must not sink its whole batch.
        for record in batch:
            try:
                report.inserted += _insert_new(conn, [record])
            except sqlite3.IntegrityError as exc:
                report.problems.append(f"record {record.id}: {exc}")


def _insert_new(conn: sqlite3.Connection, batch: list[RequestRecord]) -> int:
    """Insert ``batch`` in one transaction; how many of its records were not there before.

    Counted inside the write transaction, so proxy-core writing at the same time changes
    nothing (a count of the table before and after would include its records).
    """
    if not batch:
        return 0
    ids = list(dict.fromkeys(record.id for record in batch))
    conn.execute("BEGIN IMMEDIATE")
    try:
        present = sum(_present(conn, ids[start : start + 500]) for start in range(0, len(ids), 500))
        insert_records(conn, batch)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return len(ids) - present


def _present(conn: sqlite3.Connection, ids: list[str]) -> int:
    marks = ", ".join("?" * len(ids))
    sql = f"SELECT count(*) FROM requests WHERE id IN ({marks})"
    return int(conn.execute(sql, ids).fetchone()[0])


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
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    if not problems:
        (orphans,) = conn.execute(UNREBUILDABLE_COUNT_SQL).fetchone()
        if orphans:
            problems.append(
                f"{orphans} request bodies are stored as a difference from a body the database "
                "no longer holds whole (or without their offsets); they cannot be shown or indexed"
            )
    return problems
