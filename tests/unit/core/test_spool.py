from __future__ import annotations

import fcntl
import io
import os
import re
import sqlite3
from pathlib import Path

import orjson
import pytest

import ccp_core.spool as spool_module
from ccp_core.db_sink import DatabaseSink
from ccp_core.spool import (
    Spool,
    count_lines,
    decode_line,
    encode_line,
    read_chunks,
)
from ccp_shared.records import RequestRecord


def record(n: int, **fields: object) -> RequestRecord:
    return RequestRecord(id=f"req-{n}", ts_start=1_700_000_000.0 + n, **fields)  # type: ignore[arg-type]


def test_a_line_round_trips_with_bodies_as_text() -> None:
    original = record(1, request_body=b'{"model":"x"}', response_body="ok", stream=True)
    line = encode_line(original)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = decode_line(line)
    assert back.request_body == '{"model":"x"}'
    assert back.id == original.id and back.stream is True


def test_a_value_orjson_cannot_encode_does_not_cost_the_record() -> None:
    line = encode_line(record(1, route_decision={"reasons": {"a-set"}}))
    assert decode_line(line).route_decision == {"reasons": "{'a-set'}"}


def test_chunks_skip_blank_lines_and_report_corrupt_ones() -> None:
    good = [encode_line(record(n)) for n in range(5)]
    data = b"".join(good[:2]) + b"\n" + b"{not json\n" + b"".join(good[2:]) + b'{"id": "x"}'
    chunks = list(read_chunks(io.BytesIO(data), max_records=2, max_bytes=1 << 20))
    assert [len(c.records) for c in chunks] == [2, 2, 1]
    assert [r.id for c in chunks for r in c.records] == [f"req-{n}" for n in range(5)]
    assert [number for c in chunks for number, _ in c.corrupt] == [4, 8]


def test_chunks_are_bounded_by_bytes_too() -> None:
    lines = [encode_line(record(n, request_body="x" * 1000)) for n in range(4)]
    limit = len(lines[0]) + len(lines[1])
    chunks = list(read_chunks(io.BytesIO(b"".join(lines)), max_records=100, max_bytes=limit))
    assert [len(c.records) for c in chunks] == [2, 2]


def test_append_names_files_and_counts_pending(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.open()
    spool.append([record(1), record(2)])
    spool.append([record(3)])
    (path,) = (tmp_path / "spool").iterdir()
    assert re.fullmatch(rf"\d{{13}}-{os.getpid()}-0*1\.jsonl", path.name)
    assert spool.pending == 3
    assert count_lines(path) == 3
    assert spool.files() == []  # still being appended to
    spool.rotate()
    assert spool.files() == [path]
    spool.append([record(4)])
    assert len(spool.files()) == 1 and spool.pending == 4
    spool.close()
    assert len(spool.files()) == 2


def test_a_full_file_is_closed_so_replay_steps_stay_small(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_file_bytes=1)
    spool.append([record(1), record(2)])
    spool.append([record(3)])
    assert len(spool.files()) == 2  # both closed: ready for replay
    assert spool.pending == 3


def test_a_new_spool_counts_what_a_previous_process_left(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    (directory / "1-2-000001.jsonl").write_bytes(
        encode_line(record(1)) + encode_line(record(2))[:-5]  # torn last line, no newline
    )
    spool = Spool(directory)
    spool.open()
    assert spool.pending == 2


def test_claim_skips_a_file_another_writer_holds(tmp_path: Path) -> None:
    path = tmp_path / "1-2-000001.jsonl"
    path.write_bytes(encode_line(record(1)))
    spool = Spool(tmp_path)
    with path.open("ab") as writer:
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with spool.claim(path) as handle:
            assert handle is None
    with spool.claim(path) as handle:
        assert handle is not None and handle.read() == encode_line(record(1))
    with spool.claim(tmp_path / "gone.jsonl") as handle:
        assert handle is None


def test_files_come_oldest_first(tmp_path: Path) -> None:
    for name in ["20-1-000010.jsonl", "20-1-000002.jsonl", "10-9-000001.jsonl", "zz.jsonl"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "5-1-000001.jsonl.failed").write_bytes(b"")
    names = [p.name for p in Spool(tmp_path).files()]
    assert names == ["10-9-000001.jsonl", "20-1-000002.jsonl", "20-1-000010.jsonl", "zz.jsonl"]


def test_finish_keeps_corrupt_lines_and_quarantine_renames(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append([record(1)])
    spool.append([record(2)])
    spool.rotate()
    (path,) = spool.files()
    spool.finish(path, [(2, b"{broken")])
    assert not path.exists()
    assert (tmp_path / f"{path.name}.corrupt").read_bytes() == b"{broken\n"
    assert spool.pending == 0

    spool.append([record(3)])
    spool.rotate()
    (path,) = spool.files()
    target = spool.quarantine(path)
    assert target.name == f"{path.name}.failed"
    assert orjson.loads(target.read_bytes())["id"] == "req-3"
    assert spool.files() == [] and spool.pending == 0


def test_a_replay_between_creating_and_locking_a_new_file_loses_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process (sharing DATA_DIR, its database healthy) replays the spool at the worst
    # moment: after this process created its next file and before it locked it.
    other = DatabaseSink(data_dir / "ccp.db", Spool(data_dir / "spool"), probe_interval=0.0)
    other.open()
    real_flock = fcntl.flock
    interleaved: list[list[str]] = []

    class Interleave:
        LOCK_EX, LOCK_NB = fcntl.LOCK_EX, fcntl.LOCK_NB

        @staticmethod
        def flock(fd: int, operation: int) -> None:
            if not interleaved:
                interleaved.append([p.name for p in (data_dir / "spool").iterdir()])
                other.tick()
            real_flock(fd, operation)

    monkeypatch.setattr(spool_module, "fcntl", Interleave)
    spool = Spool(data_dir / "spool")
    spool.append([record(n, status="ok") for n in range(3)])
    monkeypatch.undo()
    spool.close()
    other.tick()
    other.close()
    with sqlite3.connect(data_dir / "ccp.db") as conn:
        rows = [row[0] for row in conn.execute("SELECT id FROM requests ORDER BY id")]
    conn.close()
    assert rows == ["req-0", "req-1", "req-2"]
    assert not list((data_dir / "spool").iterdir())
    assert interleaved  # the replay did run in the gap
    assert not any(name.endswith(".jsonl") for name in interleaved[0])
