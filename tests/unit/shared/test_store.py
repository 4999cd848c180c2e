from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from ccp_shared.bodies import KEYFRAME_JOIN, REQUEST_BODY_COLUMNS, Keyframes, request_body_of
from ccp_shared.records import RequestRecord
from ccp_shared.store import (
    PAGE_SIZE,
    connect,
    in_transaction,
    insert_records,
    keyframe_key,
    write_batch,
)


def record(rid: str, **fields: object) -> RequestRecord:
    return RequestRecord(id=rid, ts_start=1_767_225_600.0, status="ok", **fields)


def test_connections_get_ccp_pragmas(data_dir: Path) -> None:
    conn = connect(data_dir / "ccp.db", busy_timeout=1.5)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1500
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.isolation_level is None  # autocommit: callers BEGIN IMMEDIATE themselves
    conn.close()


def test_a_new_database_gets_large_pages_and_an_existing_one_keeps_its_own(
    data_dir: Path,
) -> None:
    fresh = connect(data_dir / "fresh.db")
    fresh.execute("CREATE TABLE t (x)")
    assert fresh.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16384
    # The WAL is checkpointed at 4 MiB whatever the page size (SQLite: after 1000 pages).
    assert fresh.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 256
    fresh.close()
    # A database created before ccp chose its page size (SQLite's default 4 KiB) opens as it is.
    old = sqlite3.connect(data_dir / "old.db")
    old.execute("PRAGMA page_size=4096")
    old.execute("CREATE TABLE t (x)")
    old.close()
    conn = connect(data_dir / "old.db")
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1024
    assert conn.execute("INSERT INTO t VALUES (1)").rowcount == 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_write_batch_stores_rows_and_bodies_and_is_idempotent(data_dir: Path) -> None:
    conn = connect(data_dir / "ccp.db")
    first = record(
        "a",
        model="claude-haiku-4-5",
        stream=True,
        request_body=b'{"model": "claude-haiku-4-5"}',
        response_body="event: ping\n\n",
        request_headers={"x-api-key": "****abcd"},
        route_decision={"provider": "anthropic"},
    )
    write_batch(conn, [first, record("b")])
    write_batch(conn, [record("a", model="changed"), record("c")])
    rows = conn.execute("SELECT id, model, stream, route_decision FROM requests ORDER BY seq")
    assert rows.fetchall() == [
        ("a", "claude-haiku-4-5", 1, '{"provider":"anthropic"}'),
        ("b", None, 0, None),
        ("c", None, 0, None),
    ]
    body = conn.execute(
        "SELECT request_headers, request_body, response_body FROM request_bodies "
        "WHERE request_id = 'a'"
    ).fetchone()
    assert orjson.loads(body[0]) == {"x-api-key": "****abcd"}
    assert body[1:] == ('{"model": "claude-haiku-4-5"}', "event: ping\n\n")
    conn.close()


def test_absurd_token_counts_are_clamped_not_fatal(data_dir: Path) -> None:
    conn = connect(data_dir / "ccp.db")
    write_batch(conn, [record("big", input_tokens=10**30)])
    assert conn.execute("SELECT input_tokens FROM requests").fetchone()[0] == 2**63 - 1
    conn.close()


def test_a_failed_batch_leaves_nothing_behind(data_dir: Path) -> None:
    conn = connect(data_dir / "ccp.db")
    broken = record("x")
    broken.method = None  # NOT NULL column
    with pytest.raises(sqlite3.IntegrityError):
        write_batch(conn, [record("ok"), broken])
    assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 0
    assert not conn.in_transaction
    conn.close()


def test_read_only_connections_cannot_write(data_dir: Path) -> None:
    conn = connect(data_dir / "ccp.db", readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM requests")
    conn.close()


def test_jsonl_round_trip_matches_the_database_shape() -> None:
    original = record("r", request_body=b"\xff{}", model="m", route_decision={"k": 1})
    loaded = RequestRecord.from_json(original.to_json())
    assert loaded.request_body == "\ufffd{}"  # undecodable bytes replaced, not lost silently
    assert (loaded.model, loaded.route_decision) == ("m", {"k": 1})
    with pytest.raises(ValueError, match="id and ts_start"):
        RequestRecord.from_json(b'{"model": "x"}')


class RollbackFails(sqlite3.Connection):
    """A connection whose ROLLBACK fails too, as it does when the connection itself broke."""

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "ROLLBACK":
            raise sqlite3.OperationalError("disk I/O error during rollback")
        return super().execute(sql, *args)  # type: ignore[arg-type]


def test_a_failing_rollback_does_not_hide_the_error_that_caused_it(data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / "ccp.db", isolation_level=None, factory=RollbackFails)
    broken = record("x")
    broken.method = None  # NOT NULL column
    with pytest.raises(sqlite3.IntegrityError):
        write_batch(conn, [broken])
    conn.close()


def test_in_transaction_commits_or_rolls_back(data_dir: Path) -> None:
    conn = connect(data_dir / "ccp.db")
    in_transaction(conn, lambda: write_rows(conn, "a"))

    def fail() -> None:
        write_rows(conn, "b")
        raise KeyError("stop")

    with pytest.raises(KeyError):
        in_transaction(conn, fail)
    assert [r[0] for r in conn.execute("SELECT id FROM requests")] == ["a"]
    assert not conn.in_transaction
    conn.close()


def write_rows(conn: sqlite3.Connection, rid: str) -> None:
    insert_records(conn, [record(rid)])


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(data_dir / "ccp.db")
    yield connection
    connection.close()


@pytest.fixture
def frames() -> Keyframes:
    return Keyframes()


def bases(conn: sqlite3.Connection) -> dict[str, str | None]:
    return dict(conn.execute("SELECT request_id, request_body_base FROM request_bodies"))


def stored_body(conn: sqlite3.Connection, rid: str) -> bytes | None:
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(
            f"SELECT {REQUEST_BODY_COLUMNS} FROM request_bodies AS b {KEYFRAME_JOIN} "
            "WHERE b.request_id = ?",
            (rid,),
        ).fetchone()
    finally:
        conn.row_factory = None
    return request_body_of(row)


def turn(rid: str, body: bytes, session: str = "s1") -> RequestRecord:
    return record(rid, session_id=session, model_requested="claude-opus-4-5", request_body=body)


def test_with_keyframes_a_session_stores_each_body_once_and_reads_back_every_one(
    conn: sqlite3.Connection, frames: Keyframes, fixtures_dir: Path, first_turn_body: bytes
) -> None:
    capture = orjson.loads(next(fixtures_dir.glob("*tool_session.json")).read_bytes())
    first, second = (orjson.dumps(exchange["body"]) for exchange in capture)
    write_batch(conn, [turn("t1", first), turn("other", first_turn_body, "s2")], frames)
    # A keyframe is only taken from a committed transaction: these two are whole.
    assert frames.get(keyframe_key(turn("t1", first)))[0] == "t1"
    write_batch(conn, [turn("t2", second), turn("t3", second), turn("x", first, "s3")], frames)
    assert bases(conn) == {"t1": None, "other": None, "t2": "t1", "t3": "t1", "x": None}
    sizes = dict(conn.execute("SELECT request_id, length(request_body) FROM request_bodies"))
    assert sizes["t2"] < len(second) / 4
    for rid, body in (("t1", first), ("t2", second), ("t3", second), ("other", first_turn_body)):
        assert stored_body(conn, rid) == body


def test_a_keyframe_gone_from_the_database_is_never_used(
    conn: sqlite3.Connection, frames: Keyframes, first_turn_body: bytes
) -> None:
    write_batch(conn, [turn("k", first_turn_body)], frames)
    conn.execute("DELETE FROM request_bodies WHERE request_id = 'k'")
    write_batch(conn, [turn("n", first_turn_body)], frames)
    assert bases(conn) == {"n": None}
    assert stored_body(conn, "n") == first_turn_body
    # It became the session's keyframe in its place.
    assert frames.get(keyframe_key(turn("n", b""))) == ("n", first_turn_body)


def test_a_record_already_present_does_not_become_a_keyframe(
    conn: sqlite3.Connection, frames: Keyframes, first_turn_body: bytes
) -> None:
    write_batch(conn, [turn("k", first_turn_body)], frames)
    write_batch(conn, [turn("d", first_turn_body)], frames)  # stored as a difference from k
    # A spool replayed after a crash brings d again: its row is a difference, so d must not be
    # the base of anything (bodies are rebuilt from one keyframe, never a chain).
    frames.clear()
    write_batch(conn, [turn("d", first_turn_body)], frames)
    assert frames.get(keyframe_key(turn("d", b""))) is None
    write_batch(conn, [turn("e", first_turn_body)], frames)
    assert bases(conn) == {"k": None, "d": "k", "e": None}
    assert stored_body(conn, "e") == first_turn_body


def test_bodies_that_are_not_utf8_are_stored_whole_and_never_as_keyframes(
    conn: sqlite3.Connection, frames: Keyframes, first_turn_body: bytes
) -> None:
    broken = first_turn_body + b"\xff"
    write_batch(conn, [turn("a", broken)], frames)
    write_batch(conn, [turn("b", broken)], frames)
    assert len(frames) == 0
    assert conn.execute(
        "SELECT count(*) FROM request_bodies WHERE request_body_base IS NULL"
    ).fetchone() == (2,)
    assert stored_body(conn, "b") == first_turn_body + "\ufffd".encode()


def test_a_failed_batch_adds_no_keyframe(
    conn: sqlite3.Connection, frames: Keyframes, first_turn_body: bytes
) -> None:
    broken = turn("x", first_turn_body)
    broken.method = None  # NOT NULL column
    with pytest.raises(sqlite3.IntegrityError):
        write_batch(conn, [turn("ok", first_turn_body), broken], frames)
    assert len(frames) == 0


def test_a_short_body_does_not_replace_its_session_s_keyframe(
    conn: sqlite3.Connection, frames: Keyframes, first_turn_body: bytes
) -> None:
    write_batch(conn, [turn("k", first_turn_body)], frames)
    write_batch(conn, [turn("short", b'{"model": "claude-opus-4-5"}')], frames)
    assert frames.get(keyframe_key(turn("k", b""))) == ("k", first_turn_body)


def test_a_body_that_is_not_text_is_written_as_before(
    conn: sqlite3.Connection, frames: Keyframes
) -> None:
    # A spool line can hold any JSON value as its body; keyframes must not choke on it.
    odd = turn("odd", b"")
    odd.request_body = 5  # type: ignore[assignment]
    write_batch(conn, [odd], frames)
    assert conn.execute("SELECT request_body FROM request_bodies").fetchone() == ("5",)


def test_keyframe_checks_are_two_queries_per_batch_whatever_its_size(
    conn: sqlite3.Connection, frames: Keyframes, first_turn_body: bytes
) -> None:
    # Every statement step lets go of the GIL, which the writer then waits to get back from the
    # event loop: the checks must not grow with the batch.
    write_batch(conn, [turn(f"k{n}", first_turn_body, f"s{n}") for n in range(40)], frames)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    batch = [turn(f"d{n}", first_turn_body, f"s{n % 40}") for n in range(80)]
    batch += [turn(f"new{n}", first_turn_body, f"fresh{n}") for n in range(40)]
    write_batch(conn, batch, frames)
    conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    assert conn.execute(
        "SELECT count(*) FROM request_bodies WHERE request_body_base IS NOT NULL"
    ).fetchone() == (80,)
