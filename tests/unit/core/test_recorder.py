"""The recorder against real SQLite files: batching, masking, spooling and replay."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ccp_core.db_sink import DatabaseSink
from ccp_core.recorder import Recorder, open_recorder
from ccp_core.spool import Spool, encode_line
from ccp_shared.config import load_config
from ccp_shared.migrate import upgrade
from ccp_shared.records import RequestRecord
from tests.support.polling import wait_until
from tests.support.recorded_ids import ids_in

API_KEY = "sk-ant-api03-THIS-IS-THE-RAW-KEY-abcdefghijklmnop-9876"
HASH_KEY = b"h" * 32


def record(n: int, **fields: Any) -> RequestRecord:
    fields.setdefault("request_headers", {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"})
    fields.setdefault("request_body", b'{"model": "claude-sonnet-4-5"}')
    fields.setdefault("response_body", b'{"type": "message"}')
    return RequestRecord(id=f"req-{n:05d}", ts_start=1_764_547_200.0 + n, status="ok", **fields)


class TracedSink(DatabaseSink):
    """A DatabaseSink that logs the statements its connection runs, to count transactions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements: list[str] = []
        self.batches: list[int] = []

    def write(self, records: Any) -> None:
        self.batches.append(len(records))
        super().write(records)

    def _connection(self, busy_timeout: float | None = None) -> sqlite3.Connection:
        conn = super()._connection(busy_timeout)
        conn.set_trace_callback(self.statements.append)
        return conn

    def commits(self) -> int:
        return sum(1 for s in self.statements if s == "COMMIT")


@pytest.fixture
def make_recorder(data_dir: Path) -> Iterator[Callable[..., tuple[Recorder, TracedSink]]]:
    made: list[Recorder] = []

    def make(
        *,
        queue_size: int = 10_000,
        queue_bytes: int = 16 * 1024 * 1024,
        batch_size: int = 200,
        flush_interval: float = 0.01,
        busy_timeout: float = 0.1,
    ) -> tuple[Recorder, TracedSink]:
        sink = TracedSink(
            data_dir / "ccp.db",
            Spool(data_dir / "spool"),
            busy_timeout=busy_timeout,
            batch_size=batch_size,
            probe_interval=0.05,
        )
        recorder = Recorder(
            sink,
            HASH_KEY,
            queue_size=queue_size,
            queue_bytes=queue_bytes,
            batch_size=batch_size,
            flush_interval=flush_interval,
        )
        made.append(recorder)
        return recorder, sink

    yield make
    for recorder in made:
        recorder.stop(timeout=5)


@pytest.fixture
def holder(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the database, as another process would hold it."""
    conn = sqlite3.connect(data_dir / "ccp.db", isolation_level=None)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def spool_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((data_dir / "spool").glob("*")))


def test_batches_commit_many_rows_per_transaction(make_recorder: Callable[..., Any]) -> None:
    recorder, sink = make_recorder(batch_size=100)
    for n in range(450):
        recorder.submit(record(n))
    recorder.start()
    wait_until(lambda: recorder.stats()["written"] == 450, 15.0, "450 records are written")
    assert sink.batches == [100, 100, 100, 100, 50]
    assert sink.commits() == 5
    assert sum(1 for s in sink.statements if s == "BEGIN IMMEDIATE") == 5


def test_records_arriving_together_share_one_transaction(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    recorder, sink = make_recorder(flush_interval=0.5)
    recorder.start()
    wait_until(lambda: sink._conn is not None, 15.0, "the writer has connected")
    for n in range(10):
        recorder.submit(record(n))
    wait_until(lambda: recorder.stats()["written"] == 10, 15.0, "10 records are written")
    assert sink.batches == [10]
    assert sink.commits() == 1
    assert len(ids_in(data_dir / "ccp.db")) == 10


def test_secrets_are_masked_and_hashed_before_they_reach_disk(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    recorder, _ = make_recorder()
    recorder.start()
    recorder.submit(record(1))
    wait_until(lambda: recorder.stats()["written"] == 1, 15.0, "the record is written")
    recorder.stop()
    db = data_dir / "ccp.db"
    with sqlite3.connect(db) as conn:
        key_hash, headers = conn.execute(
            "SELECT key_hash, request_headers FROM requests JOIN request_bodies ON request_id = id"
        ).fetchone()
    assert len(key_hash) == 32
    assert '"x-api-key":"…9876"' in headers
    for path in data_dir.rglob("ccp.db*"):
        assert API_KEY.encode() not in path.read_bytes()


def test_a_locked_database_spools_then_replays_exactly_once(
    make_recorder: Callable[..., Any], data_dir: Path, holder: sqlite3.Connection
) -> None:
    recorder, _ = make_recorder()
    recorder.start()
    recorder.submit(record(0))
    wait_until(lambda: recorder.stats()["written"] == 1, 15.0, "the first record is written")

    holder.execute("BEGIN EXCLUSIVE")
    for n in range(1, 41):
        recorder.submit(record(n))
    wait_until(lambda: recorder.stats()["spool_pending"] == 40, 15.0, "40 records are spooled")
    assert not recorder.database_ok()
    assert recorder.stats()["queue_depth"] == 0
    assert API_KEY.encode() not in spool_bytes(data_dir)

    holder.execute("COMMIT")
    wait_until(lambda: len(ids_in(data_dir / "ccp.db")) == 41, 15.0, "the spool is replayed")
    wait_until(lambda: recorder.stats()["spool_pending"] == 0, 15.0, "the spool is empty")
    assert ids_in(data_dir / "ccp.db") == [f"req-{n:05d}" for n in range(41)]
    assert recorder.database_ok()
    assert list((data_dir / "spool").glob("*")) == []


def test_a_full_queue_overflows_to_the_spool_and_nothing_is_lost(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    recorder, _ = make_recorder(queue_size=5)
    for n in range(50):
        recorder.submit(record(n))
    assert recorder.stats()["overflowed"] == 45
    recorder.start()
    wait_until(lambda: len(ids_in(data_dir / "ccp.db")) == 50, 15.0, "all 50 records are in")
    assert ids_in(data_dir / "ccp.db") == [f"req-{n:05d}" for n in range(50)]
    assert recorder.stats()["dropped"] == 0


def test_the_queue_is_bounded_by_body_bytes_too(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    recorder, sink = make_recorder(queue_bytes=800_000)
    big = b"x" * 100_000
    for n in range(10):
        recorder.submit(record(n, request_body=big))
    # Eight 100 KB bodies fill the 800 KB budget; the rest goes to the spool, not to memory.
    assert recorder.stats()["overflowed"] == 2
    assert recorder.stats()["queue_bytes"] == 8 * (100_000 + len(b'{"type": "message"}'))
    recorder.start()
    wait_until(lambda: len(ids_in(data_dir / "ccp.db")) == 10, 15.0, "all 10 records are in")
    assert ids_in(data_dir / "ccp.db") == [f"req-{n:05d}" for n in range(10)]
    # A transaction carries about a quarter of the budget (200 KB): two of these records.
    assert sink.batches == [2, 2, 2, 2]
    assert recorder.stats()["queue_bytes"] == 0
    assert recorder.stats()["dropped"] == 0


def test_a_half_full_queue_lets_the_writer_have_the_gil(
    make_recorder: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A busy event loop holds the GIL for up to 5 ms at a time; once the queue is half full,
    # submit() lets go of it so the writer's turn comes before the queue overflows.
    yields: list[int] = []
    monkeypatch.setattr("ccp_core.recorder.yield_gil", lambda: yields.append(1))
    recorder, _ = make_recorder(queue_size=10, queue_bytes=1_000_000)
    for n in range(4):
        recorder.submit(record(n))
    assert yields == []
    recorder.submit(record(4))
    assert yields == [1]
    big, _ = make_recorder(queue_bytes=400_000)
    big.submit(record(0, request_body=b"x" * 150_000))
    assert yields == [1]
    big.submit(record(1, request_body=b"x" * 60_000))
    assert yields == [1, 1]


def test_a_spooling_writer_is_never_given_the_event_loop_s_time(
    make_recorder: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # While the database cannot take writes the writer appends to the spool: that must cost the
    # proxy nothing, so a half-full queue no longer yields.
    yields: list[int] = []
    monkeypatch.setattr("ccp_core.recorder.yield_gil", lambda: yields.append(1))
    recorder, sink = make_recorder(queue_size=10)
    sink.healthy = False
    for n in range(8):
        recorder.submit(record(n))
    assert yields == []
    sink.healthy = True
    recorder.submit(record(8))
    assert yields == [1]


def test_many_rows_go_in_one_statement(make_recorder: Callable[..., Any], data_dir: Path) -> None:
    recorder, sink = make_recorder()
    for n in range(37):
        recorder.submit(record(n))
    recorder.start()
    wait_until(lambda: recorder.stats()["written"] == 37, 15.0, "37 records are written")
    inserts = [s for s in sink.statements if s.startswith("INSERT INTO requests ")]
    # 16 + 16 + 4 + 1 rows: few statements, and few statement shapes for SQLite to keep.
    assert [s.count("), (") + 1 for s in inserts] == [16, 16, 4, 1]
    assert ids_in(data_dir / "ccp.db") == [f"req-{n:05d}" for n in range(37)]


def test_stop_drains_the_queue_and_later_records_are_still_written(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    recorder, _ = make_recorder(batch_size=50)
    recorder.start()
    for n in range(500):
        recorder.submit(record(n))
    recorder.stop()
    assert len(ids_in(data_dir / "ccp.db")) == 500
    recorder.stop()  # idempotent
    # Finished after the writer ended: submit() runs on the event loop, so the record goes to
    # the spool (a file append), not to SQLite; the next start replays it.
    recorder.submit(record(999))
    assert "req-00999" not in ids_in(data_dir / "ccp.db")
    assert b"req-00999" in spool_bytes(data_dir)
    after, _ = make_recorder()
    after.start()
    wait_until(
        lambda: "req-00999" in ids_in(data_dir / "ccp.db"), 15.0, "the next start replays it"
    )
    assert len(ids_in(data_dir / "ccp.db")) == 501


def test_stop_without_start_still_writes_what_was_submitted(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    recorder, _ = make_recorder()
    recorder.submit(record(1))
    recorder.stop()
    assert ids_in(data_dir / "ccp.db") == ["req-00001"]


def test_a_bad_record_costs_only_itself_and_is_set_aside(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    recorder, sink = make_recorder()
    # method is NOT NULL in the schema: the database refuses this one record.
    batch = [record(1), record(2, method=None), record(3)]
    for item in batch:
        recorder.submit(item)
    recorder.start()
    wait_until(lambda: recorder.stats()["written"] == 2, 15.0, "the two good records are written")
    wait_until(lambda: sink.quarantined == 1, 15.0, "the refused record is set aside")
    assert ids_in(data_dir / "ccp.db") == ["req-00001", "req-00003"]
    (failed,) = (data_dir / "spool").glob("*.failed")
    assert b"req-00002" in failed.read_bytes()
    assert recorder.stats()["write_errors"] >= 1
    recorder.submit(record(4))  # the writer thread is alive and well
    wait_until(
        lambda: "req-00004" in ids_in(data_dir / "ccp.db"), 15.0, "a later record is written"
    )


def test_an_unencodable_value_does_not_kill_the_writer(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    recorder, _ = make_recorder()
    recorder.start()
    recorder.submit(record(1, route_decision={"odd": {1, 2}}))
    recorder.submit(record(2))
    wait_until(
        lambda: "req-00002" in ids_in(data_dir / "ccp.db"), 15.0, "the good record is written"
    )
    # Spooled with the odd value written as text, it is replayed like any other record.
    wait_until(
        lambda: "req-00001" in ids_in(data_dir / "ccp.db"), 15.0, "the odd record is replayed"
    )
    with sqlite3.connect(data_dir / "ccp.db") as conn:
        (decision,) = conn.execute(
            "SELECT route_decision FROM requests WHERE id = 'req-00001'"
        ).fetchone()
    assert decision == '{"odd":"{1, 2}"}'


def test_a_missing_database_is_not_created_and_records_wait_for_it(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    db = data_dir / "ccp.db"
    for path in data_dir.glob("ccp.db*"):
        path.unlink()
    recorder, _ = make_recorder()
    recorder.start()
    for n in range(5):
        recorder.submit(record(n))
    wait_until(lambda: recorder.stats()["spool_pending"] == 5, 15.0, "the records are spooled")
    assert not db.exists()
    assert not recorder.database_ok()
    upgrade(db)
    wait_until(lambda: len(ids_in(db)) == 5, 15.0, "the records reach the new database")


def test_a_schema_behind_head_is_not_written(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    db = data_dir / "ccp.db"
    for path in data_dir.glob("ccp.db*"):
        path.unlink()
    upgrade(db, "0001")  # the requests table exists, but the code expects a later schema
    recorder, _ = make_recorder()
    recorder.start()
    recorder.submit(record(1))
    wait_until(lambda: recorder.stats()["spool_pending"] == 1, 15.0, "the record is spooled")
    assert ids_in(db) == []
    upgrade(db)
    wait_until(lambda: ids_in(db) == ["req-00001"], 15.0, "the record is replayed")


def test_spool_files_left_by_a_killed_process_are_replayed_at_start(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    spool_dir = data_dir / "spool"
    spool_dir.mkdir()
    leftover = spool_dir / "1764547200000-4242-000001.jsonl"
    leftover.write_bytes(b"".join(encode_line(record(n)) for n in range(3)))
    recorder, _ = make_recorder()
    recorder.start()
    wait_until(lambda: not leftover.exists(), 15.0, "the leftover file is replayed")
    assert ids_in(data_dir / "ccp.db") == ["req-00000", "req-00001", "req-00002"]


def test_the_spool_is_replayed_after_a_backlog_not_during_it(
    make_recorder: Callable[..., Any], data_dir: Path
) -> None:
    spool_dir = data_dir / "spool"
    spool_dir.mkdir()
    leftover = spool_dir / "1764547200000-4242-000001.jsonl"
    leftover.write_bytes(b"".join(encode_line(record(n)) for n in range(900, 903)))
    recorder, _ = make_recorder(batch_size=10)
    for n in range(50):
        recorder.submit(record(n))
    recorder.start()
    wait_until(lambda: not leftover.exists(), 15.0, "the leftover file is replayed")
    with sqlite3.connect(f"file:{data_dir / 'ccp.db'}?mode=ro", uri=True) as conn:
        in_order = [row[0] for row in conn.execute("SELECT id FROM requests ORDER BY seq")]
    # Five batches first (the live records), then the old spooled ones.
    assert in_order == [f"req-{n:05d}" for n in [*range(50), *range(900, 903)]]


# -- replay, driven synchronously through the sink ---------------------------------------------


def sink_for(data_dir: Path) -> DatabaseSink:
    sink = DatabaseSink(data_dir / "ccp.db", Spool(data_dir / "spool"), probe_interval=0.0)
    sink.open()
    return sink


def write_spool_file(data_dir: Path, name: str, lines: list[bytes]) -> Path:
    (data_dir / "spool").mkdir(exist_ok=True)
    path = data_dir / "spool" / name
    path.write_bytes(b"".join(lines))
    return path


def test_replaying_the_same_spool_twice_leaves_one_row_each(data_dir: Path) -> None:
    lines = [encode_line(record(n)) for n in range(10)]
    sink = sink_for(data_dir)
    first = write_spool_file(data_dir, "1-1-000001.jsonl", lines)
    sink.tick()
    assert not first.exists()
    second = write_spool_file(data_dir, "1-1-000002.jsonl", lines)
    sink.tick()
    assert not second.exists()
    assert ids_in(data_dir / "ccp.db") == [f"req-{n:05d}" for n in range(10)]
    sink.close()


def test_a_corrupt_spool_line_is_skipped_reported_and_kept(data_dir: Path) -> None:
    lines = [encode_line(record(1)), b'{"id": "half a rec\n', encode_line(record(2))]
    path = write_spool_file(data_dir, "1-1-000001.jsonl", lines)
    sink = sink_for(data_dir)
    sink.tick()
    assert ids_in(data_dir / "ccp.db") == ["req-00001", "req-00002"]
    assert not path.exists()
    assert sink.counters()["spool_corrupt_lines"] == 1
    assert (path.parent / f"{path.name}.corrupt").read_bytes() == lines[1]
    sink.close()


def test_a_file_the_database_keeps_refusing_is_renamed_failed(data_dir: Path) -> None:
    path = write_spool_file(
        data_dir, "1-1-000001.jsonl", [encode_line(record(1, method=None)), encode_line(record(2))]
    )
    sink = DatabaseSink(
        data_dir / "ccp.db", Spool(data_dir / "spool"), probe_interval=0.0, max_refusals=3
    )
    sink.open()
    sink.tick()
    sink.tick()
    assert path.exists()
    sink.tick()
    assert not path.exists()
    assert (path.parent / f"{path.name}.failed").exists()
    assert ids_in(data_dir / "ccp.db") == ["req-00002"]
    sink.close()


# -- a read-only database ----------------------------------------------------------------------


def test_a_read_only_database_spools_until_it_is_writable_again(
    make_recorder: Callable[..., Any], data_dir: Path, immutable: Callable[..., None]
) -> None:
    db = data_dir / "ccp.db"
    recorder, _ = make_recorder()
    recorder.start()
    recorder.submit(record(0))
    wait_until(lambda: recorder.stats()["written"] == 1, 15.0, "the first record is written")
    # Never the -shm file: SQLite maps it, and a write to an immutable mapping is a SIGBUS.
    files = [db, db.with_name("ccp.db-wal")]
    immutable(*files)
    for n in range(1, 11):
        recorder.submit(record(n))
    wait_until(lambda: recorder.stats()["spool_pending"] == 10, 15.0, "10 records are spooled")
    assert not recorder.database_ok()
    subprocess.run(["chattr", "-i", *files], check=True)
    wait_until(lambda: len(ids_in(db)) == 11, 15.0, "the spool is replayed")
    assert ids_in(db) == [f"req-{n:05d}" for n in range(11)]
    assert recorder.database_ok()


def test_open_recorder_follows_the_config(data_dir: Path) -> None:
    config = load_config(
        flags={"data_dir": str(data_dir), "recorder.batch_size": 7, "security.hash_key": "k"},
        environ={},
    )
    recorder = open_recorder(config)
    recorder.start()
    recorder.submit(record(1))
    recorder.stop()
    assert ids_in(data_dir / "ccp.db") == ["req-00001"]
    assert recorder.stats()["written"] == 1


def test_records_neither_database_nor_spool_can_take_are_held_and_retried(
    data_dir: Path,
) -> None:
    for path in data_dir.glob("ccp.db*"):
        path.unlink()  # the database refuses everything
    spool_dir = data_dir / "spool"
    spool_dir.write_text("a file where the spool directory should be")
    sink = DatabaseSink(data_dir / "ccp.db", Spool(spool_dir), probe_interval=60.0)
    sink.open()
    sink.write([record(1), record(2)])
    assert sink.counters()["held"] == 2 and sink.counters()["spool_pending"] == 0
    spool_dir.unlink()
    sink.tick()
    assert sink.counters()["held"] == 0 and sink.counters()["spool_pending"] == 2
    sink.close()


def test_a_database_upgraded_past_this_version_is_still_written(data_dir: Path) -> None:
    # A newer proxy-data's `ccp db upgrade` moved the revision on; the columns we write remain.
    db = data_dir / "ccp.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0042_from_the_future'")
    conn.close()
    sink = DatabaseSink(db, Spool(data_dir / "spool"))
    sink.open()
    try:
        assert sink.healthy
        sink.write([record(1)])
    finally:
        sink.close()
    assert ids_in(db) == ["req-00001"]
    assert sink.spooled == 0


def test_an_older_schema_is_refused_naming_the_fix(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = data_dir / "ccp.db"
    for path in data_dir.glob("ccp.db*"):
        path.unlink()
    upgrade(db, "0002")
    sink = DatabaseSink(db, Spool(data_dir / "spool"))
    sink.open()
    try:
        assert not sink.healthy
        sink.write([record(1)])
    finally:
        sink.close()
    assert ids_in(db) == []
    assert sink.spooled == 1
    assert "run `ccp db upgrade`" in caplog.text


def test_a_session_s_bodies_are_stored_as_differences_and_forgotten_with_the_connection(
    data_dir: Path, first_turn_body: bytes
) -> None:
    def turn(n: int) -> RequestRecord:
        return record(n, session_id="s", request_body=first_turn_body)

    def bases() -> dict[str, str | None]:
        conn = sqlite3.connect(data_dir / "ccp.db")
        try:
            return dict(conn.execute("SELECT request_id, request_body_base FROM request_bodies"))
        finally:
            conn.close()

    sink = sink_for(data_dir)
    sink.write([turn(0)])
    sink.write([turn(1), turn(2)])
    assert bases() == {"req-00000": None, "req-00001": "req-00000", "req-00002": "req-00000"}
    # The connection is dropped when the database fails (it may have been replaced meanwhile):
    # the next body is stored whole and becomes the keyframe.
    sink._fail(sqlite3.OperationalError("disk I/O error"))
    sink.tick()
    sink.write([turn(3)])
    sink.write([turn(4)])
    assert bases()["req-00003"] is None
    assert bases()["req-00004"] == "req-00003"
    sink.close()


def test_a_spool_line_whose_body_is_not_text_does_not_stop_the_replay(data_dir: Path) -> None:
    odd = record(1)
    odd.request_body = 5  # type: ignore[assignment]
    path = write_spool_file(
        data_dir, "1-1-000001.jsonl", [encode_line(odd), encode_line(record(2))]
    )
    later = write_spool_file(data_dir, "1-1-000002.jsonl", [encode_line(record(3))])
    sink = sink_for(data_dir)
    sink.tick()
    assert not path.exists() and not later.exists()
    assert ids_in(data_dir / "ccp.db") == ["req-00001", "req-00002", "req-00003"]
    sink.close()
