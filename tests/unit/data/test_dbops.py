"""``ccp db import``: transactions bounded by count and bytes; an exact inserted count."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccp_data import dbops
from ccp_shared.records import RequestRecord
from ccp_shared.store import connect
from tests.support.usage import usage_record, write


def jsonl(path: Path, records: list[RequestRecord]) -> Path:
    path.write_bytes(b"".join(record.to_json() + b"\n" for record in records))
    return path


def records(count: int, body_bytes: int = 100) -> list[RequestRecord]:
    body = b'{"pad":"' + b"x" * body_bytes + b'"}'
    return [usage_record(1_767_225_600.0 + i, request_body=body) for i in range(count)]


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(data_dir / "ccp.db")
    yield connection
    connection.close()


def transactions(conn: sqlite3.Connection) -> list[str]:
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    return statements


def test_transactions_are_bounded_by_bytes_as_well_as_count(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "big.jsonl", records(5, body_bytes=1000))
    traced = transactions(conn)

    report = dbops.import_jsonl(conn, [path], batch_size=500, batch_bytes=2500)

    # Each line is over 1 KB: two lines reach 2.5 KB, so 2 + 2 + 1 records.
    assert traced.count("BEGIN IMMEDIATE") == 3
    assert (report.read, report.inserted, report.already_present) == (5, 5, 0)


def test_the_default_byte_bound_splits_claude_code_sized_records(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "cc.jsonl", records(30, body_bytes=300_000))  # ~9 MB in all
    traced = transactions(conn)

    dbops.import_jsonl(conn, [path])

    assert traced.count("BEGIN IMMEDIATE") == 3  # 14 + 14 + 2 records of ~300 KB


def test_inserted_counts_only_the_imported_records_while_core_writes_too(
    conn: sqlite3.Connection, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported = records(4)
    path = jsonl(tmp_path / "r.jsonl", imported)
    write(data_dir / "ccp.db", [imported[0]])  # already there before the import
    original = dbops.read_records

    def read_while_core_writes(
        paths: list[Path], report: dbops.ImportReport
    ) -> Iterator[tuple[RequestRecord, int]]:
        for number, item in enumerate(original(paths, report)):
            if number == 2:  # between two transactions, proxy-core records a request
                write(data_dir / "ccp.db", [usage_record(1_767_300_000.0)])
            yield item

    monkeypatch.setattr(dbops, "read_records", read_while_core_writes)
    report = dbops.import_jsonl(conn, [path], batch_size=2)

    assert (report.read, report.inserted, report.already_present) == (4, 3, 1)
    assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 5  # core's one too
