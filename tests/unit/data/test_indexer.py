"""The indexer over a real SQLite file: conversations, dedup, classes, watermark, FTS."""

from __future__ import annotations

import json
import random
import sqlite3
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from ccp_data import indexer as indexer_module
from ccp_data import indexing
from ccp_data.db import transaction
from ccp_data.indexer import FAILED, RUNNING, Indexer, IndexerError
from ccp_data.queries import conversations as conversation_queries
from ccp_shared.bodies import Keyframes
from ccp_shared.config import Config, load_config
from ccp_shared.records import RequestRecord
from ccp_shared.store import connect, write_batch
from tests.support.recorded import load_capture, record, streamed_reply

SESSION = "a7fef5e5-c038-416e-a21a-9d947304b249"
TOOL_TURN: list[dict[str, Any]] = [
    {"type": "thinking", "thinking": "they want the marker"},
    {"type": "text", "text": "I will run a command."},
    {
        "type": "tool_use",
        "id": "toolu_fake_1",
        "name": "Bash",
        "input": {"command": "echo marker-from-tool-7f3a", "description": "Print a marker"},
    },
]
FINAL_TURN = [{"type": "text", "text": "The command printed marker-from-tool-7f3a."}]


@pytest.fixture
def config(data_dir: Path) -> Config:
    return load_config(flags={"data_dir": str(data_dir)}, environ={})


@pytest.fixture
def writer(config: Config) -> Iterator[sqlite3.Connection]:
    conn = connect(config.db_path)
    yield conn
    conn.close()


@pytest.fixture
def reader(config: Config) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(config.db_path)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


@pytest.fixture
def indexer(config: Config) -> Iterator[Indexer]:
    ix = Indexer(config)
    yield ix
    ix.stop()


def tool_session(fixtures_dir: Path, *, t0: float = 1_800_000_000.0) -> list[RequestRecord]:
    """The captured two-turn tool session, with the replies the upstream streamed."""
    first, second = load_capture(fixtures_dir, "tool_session")
    return [
        record(first["body"], ts=t0, session_id=SESSION, response=streamed_reply(TOOL_TURN)),
        record(second["body"], ts=t0 + 10, session_id=SESSION, response=streamed_reply(FINAL_TURN)),
    ]


def rows(conn: sqlite3.Connection, sql: str, *params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, params)]


@pytest.mark.parametrize("as_differences", [False, True], ids=["whole", "as-core-stores"])
def test_tool_session_stores_each_message_once(
    fixtures_dir: Path,
    writer: sqlite3.Connection,
    reader: sqlite3.Connection,
    indexer: Indexer,
    as_differences: bool,
) -> None:
    records = tool_session(fixtures_dir)
    if as_differences:
        # proxy-core's writer: the second turn is stored as its difference from the first.
        keyframes = Keyframes()
        write_batch(writer, records[:1], keyframes)
        write_batch(writer, records[1:], keyframes)
        based = "SELECT request_body_base FROM request_bodies WHERE request_id = ?"
        assert writer.execute(based, (records[1].id,)).fetchone() == (records[0].id,)
    else:
        write_batch(writer, records)
    assert indexer.run_once() == 2

    messages = rows(reader, "SELECT * FROM messages ORDER BY position")
    assert [(m["position"], m["role"], m["kind"]) for m in messages] == [
        (0, "user", "text"),
        (1, "system", "system"),
        (2, "assistant", "tool_use"),
        (3, "user", "tool_result"),
        (4, "assistant", "text"),
    ]
    assert len({m["conversation_id"] for m in messages}) == 1
    # The streamed reply of turn 1 and its copy in turn 2's history are one row, which keeps the
    # thinking only the stream carried; each message names the request that first brought it.
    assert "they want the marker" in messages[2]["text"]
    assert [m["request_id"] for m in messages] == [records[0].id] * 3 + [records[1].id] * 2
    assert [m["parent_id"] for m in messages] == [None, *(m["id"] for m in messages[:-1])]

    turns = rows(reader, "SELECT * FROM request_index ORDER BY seq")
    assert [t["class"] for t in turns] == ["main", "main"]
    assert [t["prompt_message_id"] for t in turns] == [messages[1]["id"], messages[3]["id"]]
    assert [t["response_message_id"] for t in turns] == [messages[2]["id"], messages[4]["id"]]

    (conversation,) = rows(reader, "SELECT * FROM conversations")
    assert conversation["session_id"] == SESSION
    assert conversation["agent_id"] == "main"
    assert conversation["title"] == "run the marker command please"
    assert conversation["request_count"] == 2
    assert conversation["message_count"] == 5
    assert indexer.status()["conversations_indexed"] == 1


def test_turns_indexed_in_separate_runs_dedupe_too(
    fixtures_dir: Path, writer: sqlite3.Connection, reader: sqlite3.Connection, indexer: Indexer
) -> None:
    first, second = tool_session(fixtures_dir)
    write_batch(writer, [first])
    indexer.run_once()
    write_batch(writer, [second])
    indexer.run_once()
    assert reader.execute("SELECT count(*) FROM messages").fetchone()[0] == 5


def test_session_from_metadata_when_header_missing(
    fixtures_dir: Path, writer: sqlite3.Connection, reader: sqlite3.Connection, indexer: Indexer
) -> None:
    records = tool_session(fixtures_dir)
    for r in records:
        r.session_id = None
    write_batch(writer, records)
    indexer.run_once()
    assert rows(reader, "SELECT session_id FROM conversations") == [{"session_id": SESSION}]


def test_subagent_requests_are_their_own_conversation(
    fixtures_dir: Path, writer: sqlite3.Connection, reader: sqlite3.Connection, indexer: Indexer
) -> None:
    main = tool_session(fixtures_dir)
    sub_body = {
        "model": "claude-haiku-4-5",
        "messages": [{"role": "user", "content": "List the files under src/"}],
    }
    sub = record(
        sub_body,
        ts=1_800_000_005.0,
        session_id=SESSION,
        agent_id="agent-42",
        response=streamed_reply([{"type": "text", "text": "src/main.py"}]),
    )
    write_batch(writer, [main[0], sub, main[1]])
    indexer.run_once()
    conversations = rows(
        reader, "SELECT agent_id, kind, message_count FROM conversations ORDER BY id"
    )
    assert conversations == [
        {"agent_id": "main", "kind": "main", "message_count": 5},
        {"agent_id": "agent-42", "kind": "subagent", "message_count": 2},
    ]
    classes = rows(reader, "SELECT request_id, class FROM request_index ORDER BY seq")
    assert [c["class"] for c in classes] == ["main", "subagent", "main"]


def test_helper_calls_do_not_fork_the_main_thread(
    writer: sqlite3.Connection, reader: sqlite3.Connection, indexer: Indexer
) -> None:
    title = {
        "model": "claude-haiku-4-5",
        "system": "Generate a concise, sentence-case title for the conversation",
        "messages": [{"role": "user", "content": "fix the login bug"}],
    }
    count = {"model": "claude-opus-5-5", "messages": [{"role": "user", "content": "hi"}]}
    write_batch(
        writer,
        [
            record(title, ts=1.0, session_id="s1"),
            record(count, ts=2.0, session_id="s1", path="/v1/messages/count_tokens"),
        ],
    )
    indexer.run_once()
    assert rows(reader, "SELECT agent_id, kind FROM conversations") == [
        {"agent_id": "title", "kind": "title"}
    ]
    assert rows(reader, "SELECT class, conversation_id FROM request_index ORDER BY seq") == [
        {"class": "title", "conversation_id": 1},
        {"class": "count_tokens", "conversation_id": None},
    ]


def test_unreadable_bodies_are_indexed_as_other(
    fixtures_dir: Path, writer: sqlite3.Connection, reader: sqlite3.Connection, indexer: Indexer
) -> None:
    whole = next(fixtures_dir.glob("*first_turn.json")).read_text()
    write_batch(
        writer,
        [
            record("not json at all", ts=1.0),
            record(whole[: len(whole) // 2], ts=2.0),  # truncated
            record("", ts=3.0),
            record(orjson.loads(whole), ts=4.0, response="<html>502</html>"),
        ],
    )
    assert indexer.run_once() == 4
    assert [r["class"] for r in rows(reader, "SELECT class FROM request_index ORDER BY seq")] == [
        "other",
        "other",
        "other",
        "main",
    ]
    assert indexer.status()["watermark"] == 4


def test_no_session_groups_by_first_message(
    writer: sqlite3.Connection, reader: sqlite3.Connection, indexer: Indexer
) -> None:
    turn1 = {"model": "m", "messages": [{"role": "user", "content": "hello sdk"}]}
    turn2 = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "hello sdk"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": "more"},
        ],
    }
    other = {"model": "m", "messages": [{"role": "user", "content": "different"}]}
    write_batch(writer, [record(turn1, ts=1.0), record(turn2, ts=2.0), record(other, ts=3.0)])
    indexer.run_once()
    found = rows(reader, "SELECT session_id, request_count FROM conversations ORDER BY id")
    assert found == [
        {"session_id": None, "request_count": 2},
        {"session_id": None, "request_count": 1},
    ]


def test_watermark_restart_is_exact_and_idempotent(
    fixtures_dir: Path, config: Config, writer: sqlite3.Connection, reader: sqlite3.Connection
) -> None:
    records = tool_session(fixtures_dir)
    write_batch(writer, records[:1])
    first = Indexer(config)
    assert first.run_once() == 1
    first.stop()

    snapshot = rows(reader, "SELECT * FROM messages ORDER BY id")
    second = Indexer(config)
    assert second.run_once() == 0  # a restart finds nothing new
    assert rows(reader, "SELECT * FROM messages ORDER BY id") == snapshot

    write_batch(writer, records[1:])
    assert second.run_once() == 1
    # Even with the watermark lost, re-running indexes nothing twice.
    writer.execute("UPDATE indexer_state SET seq = 0")
    assert second.run_once() == 2
    second.stop()
    assert reader.execute("SELECT count(*) FROM messages").fetchone()[0] == 5
    assert reader.execute("SELECT request_count FROM conversations").fetchone()[0] == 2


def test_a_failed_batch_leaves_no_trace(
    fixtures_dir: Path,
    writer: sqlite3.Connection,
    reader: sqlite3.Connection,
    indexer: Indexer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ccp_data import indexing

    write_batch(writer, tool_session(fixtures_dir))
    original = indexing._write_one
    calls = 0

    def crash_on_second(
        conn: sqlite3.Connection, analysis: indexing.Analysis, budget: indexing.Budget
    ) -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("power cut")
        return original(conn, analysis, budget)

    monkeypatch.setattr(indexing, "_write_one", crash_on_second)
    with pytest.raises(RuntimeError):
        indexer.run_once()
    assert reader.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert reader.execute("SELECT count(*) FROM indexer_state").fetchone()[0] == 0
    monkeypatch.setattr(indexing, "_write_one", original)
    assert indexer.run_once() == 2
    assert reader.execute("SELECT count(*) FROM messages").fetchone()[0] == 5


def test_batches_are_bounded(
    config: Config, writer: sqlite3.Connection, reader: sqlite3.Connection
) -> None:
    seen: list[list[int]] = []
    small = Indexer(
        load_config(flags={"data_dir": str(config.data_dir), "indexer.batch_size": 3}, environ={}),
        on_indexed=seen.append,
    )
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    write_batch(writer, [record(body, ts=float(i), session_id=f"s{i}") for i in range(7)])
    assert small.run_once() == 7
    small.stop()
    assert seen == [[1, 2, 3], [4, 5, 6], [7]]


def test_messages_are_searchable(
    fixtures_dir: Path, writer: sqlite3.Connection, reader: sqlite3.Connection, indexer: Indexer
) -> None:
    write_batch(writer, tool_session(fixtures_dir))
    indexer.run_once()
    found = rows(
        reader,
        "SELECT m.role, snippet(messages_fts, 0, '[', ']', '…', 8) AS s FROM messages_fts "
        "JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH ? ORDER BY rank",
        '"printed"',
    )
    assert found == [{"role": "assistant", "s": "The command [printed] marker-from-tool-7f3a."}]


def test_thread_indexes_new_requests_quickly(
    fixtures_dir: Path, config: Config, writer: sqlite3.Connection, reader: sqlite3.Connection
) -> None:
    indexer = Indexer(config)
    indexer.start()
    try:
        write_batch(writer, tool_session(fixtures_dir))
        deadline = time.monotonic() + 10  # eventual; generous for a busy CI machine
        while time.monotonic() < deadline:
            if reader.execute("SELECT count(*) FROM request_index").fetchone()[0] == 2:
                break
            time.sleep(0.02)
        assert reader.execute("SELECT count(*) FROM request_index").fetchone()[0] == 2
        status = indexer.status()
        assert status["status"] == RUNNING
        assert status["error"] is None
    finally:
        indexer.stop()
    assert indexer.status()["status"] == "stopped"


def test_lag_is_the_age_of_the_oldest_pending_request(
    config: Config, writer: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ccp_data import indexing

    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    write_batch(writer, [record(body, ts=time.time() - 60)])
    indexer = Indexer(config)
    original = indexing.write

    def locked(*args: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(indexing, "write", locked)
    try:
        with pytest.raises(sqlite3.OperationalError):
            indexer.run_once()
        assert 59 < indexer.status()["lag_seconds"] < 120
        monkeypatch.setattr(indexing, "write", original)
        assert indexer.run_once() == 1
        assert indexer.status()["lag_seconds"] == 0.0
        assert indexer.status()["last_run"] is not None
    finally:
        indexer.stop()


def test_a_dying_thread_reports_failed(
    config: Config, writer: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ccp_data import indexing

    def broken(*args: Any) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(indexing, "read_watermark", broken)
    indexer = Indexer(config)
    indexer.start()
    try:
        deadline = time.monotonic() + 10  # eventual; generous for a busy CI machine
        while indexer.status()["status"] != FAILED and time.monotonic() < deadline:
            time.sleep(0.02)
        assert indexer.status()["status"] == FAILED
        assert "malformed" in indexer.status()["error"]
    finally:
        indexer.stop()


def test_start_refuses_a_database_without_the_search_table(tmp_path: Path) -> None:
    from ccp_shared.migrate import upgrade

    upgrade(tmp_path / "ccp.db", "0001")
    config = load_config(flags={"data_dir": str(tmp_path)}, environ={})
    with pytest.raises(IndexerError, match="ccp db upgrade"):
        Indexer(config).start()


def test_byte_budget_cuts_batches_and_core_may_commit_meanwhile(
    writer: sqlite3.Connection,
    reader: sqlite3.Connection,
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ccp_data import indexing

    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    write_batch(writer, [record(body, ts=float(i), session_id="s") for i in range(3)])
    monkeypatch.setattr(indexing, "BATCH_BYTES", 1)  # every request fills a batch
    original = indexing.analyse
    late = [record(body, ts=9.0, session_id="s")]

    def analyse_while_core_writes(row: sqlite3.Row, *args: Any) -> indexing.Analysis:
        # Core commits while the indexer reads: its next BEGIN IMMEDIATE must not be stale.
        if late:
            write_batch(writer, [late.pop()])
        return original(row, *args)

    monkeypatch.setattr(indexing, "analyse", analyse_while_core_writes)
    seen: list[list[int]] = []
    indexer = Indexer(config, on_indexed=seen.append)
    try:
        assert indexer.run_once() == 4
    finally:
        indexer.stop()
    assert seen == [[1], [2], [3], [4]]


def test_a_request_that_trips_a_bug_is_indexed_as_other(
    writer: sqlite3.Connection,
    reader: sqlite3.Connection,
    indexer: Indexer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ccp_data import indexing

    def buggy(row: sqlite3.Row, *args: Any) -> indexing.Analysis:
        raise KeyError("surprise")

    monkeypatch.setattr(indexing, "analyse", buggy)
    write_batch(writer, [record({"model": "m", "messages": []}, ts=1.0)])
    assert indexer.run_once() == 1
    assert rows(reader, "SELECT class, conversation_id FROM request_index") == [
        {"class": "other", "conversation_id": None}
    ]


def test_a_locked_database_is_retried_not_fatal(
    config: Config, writer: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ccp_data import indexing

    attempts: list[int] = []

    def locked(*args: Any) -> None:
        attempts.append(1)
        raise sqlite3.OperationalError("database is locked")

    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    write_batch(writer, [record(body, ts=1.0)])
    monkeypatch.setattr(indexing, "write", locked)
    indexer = Indexer(config)
    indexer.start()
    try:
        deadline = time.monotonic() + 10  # eventual; generous for a busy CI machine
        while len(attempts) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(attempts) >= 2
        assert indexer.status()["status"] != FAILED
    finally:
        indexer.stop()


def prose(rng: random.Random, words: int) -> str:
    return " ".join(
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(words)
    )


def long_history(rng: random.Random, turns: int) -> list[dict[str, Any]]:
    """A Claude Code-like tool loop: each turn a tool call and a ~3 KB tool output."""
    items: list[dict[str, Any]] = [{"role": "user", "content": prose(rng, 50)}]
    for turn in range(turns):
        items.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": prose(rng, 20)},
                    {"type": "tool_use", "id": f"t{turn}", "name": "Bash", "input": {"c": "ls"}},
                ],
            }
        )
        items.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"t{turn}", "content": prose(rng, 400)}
                ],
            }
        )
    return items


class Transactions:
    """Wraps the indexer's write transactions to measure what each one stored."""

    def __init__(self) -> None:
        self.stored: list[tuple[int, int]] = []  # (rows, characters of text and content)

    @contextmanager
    def __call__(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        last = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
        with transaction(conn):
            yield conn
            rows, size = conn.execute(
                "SELECT count(*), coalesce(sum(length(text) + length(content)), 0) "
                "FROM messages WHERE id > ?",
                (last,),
            ).fetchone()
        self.stored.append((rows, size))


def test_resumed_histories_are_written_in_short_transactions(
    writer: sqlite3.Connection,
    reader: sqlite3.Connection,
    indexer: Indexer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After `claude --resume` (or downtime) each request brings a ~200 KB history not stored yet.
    rng = random.Random(7)
    histories = [long_history(rng, 60) for _ in range(12)]
    records = [
        record({"model": "m", "messages": items}, ts=float(i), session_id=f"resumed-{i}")
        for i, items in enumerate(histories)
    ]
    assert all(150_000 < len(r.request_body or b"") < 300_000 for r in records)
    write_batch(writer, records)
    measured = Transactions()
    monkeypatch.setattr(indexer_module, "transaction", measured)

    assert indexer.run_once() == 12

    largest_message = reader.execute(
        "SELECT max(length(text) + length(content)) FROM messages"
    ).fetchone()[0]
    assert len(measured.stored) > 1
    assert max(size for _, size in measured.stored) <= indexing.WRITE_BYTES + largest_message
    assert max(rows for rows, _ in measured.stored) <= indexing.WRITE_BYTES // indexing.ROW_BYTES
    assert sum(rows for rows, _ in measured.stored) == 12 * 121
    assert rows(reader, "SELECT DISTINCT request_count, message_count FROM conversations") == [
        {"request_count": 1, "message_count": 121}
    ]


def test_a_history_larger_than_a_transaction_survives_a_crash_between_its_parts(
    writer: sqlite3.Connection,
    reader: sqlite3.Connection,
    indexer: Indexer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = long_history(random.Random(3), 40)
    write_batch(
        writer,
        [
            record({"model": "m", "messages": items[:3]}, ts=1.0, session_id="s"),
            record(
                {"model": "m", "messages": items},
                ts=2.0,
                session_id="s",
                response=streamed_reply(FINAL_TURN),
            ),
        ],
    )
    monkeypatch.setattr(indexing, "WRITE_BYTES", 20_000)  # ~6 messages per transaction
    original = indexing.write
    calls = 0

    def power_cut_on_fourth(conn: sqlite3.Connection, batch: Any) -> int:
        nonlocal calls
        calls += 1
        done = original(conn, batch)
        if calls == 4:
            raise RuntimeError("power cut")
        return done

    monkeypatch.setattr(indexing, "write", power_cut_on_fourth)
    with pytest.raises(RuntimeError):
        indexer.run_once()
    # The first request is indexed; of the second only some messages, not yet counted.
    assert reader.execute("SELECT seq FROM indexer_state").fetchone()[0] == 1
    assert reader.execute("SELECT count(*) FROM request_index").fetchone()[0] == 1
    partial = reader.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert 3 < partial < len(items)

    monkeypatch.setattr(indexing, "write", original)
    assert indexer.run_once() == 1
    stored = rows(reader, "SELECT id, parent_id, position, role FROM messages ORDER BY id")
    assert [m["position"] for m in stored] == list(range(len(items) + 1))
    assert [m["parent_id"] for m in stored] == [None, *(m["id"] for m in stored[:-1])]
    assert stored[-1]["role"] == "assistant"
    assert rows(reader, "SELECT request_count, message_count FROM conversations") == [
        {"request_count": 2, "message_count": len(items) + 1}
    ]
    second = rows(reader, "SELECT prompt_message_id, response_message_id FROM request_index")[1]
    assert second == {
        "prompt_message_id": stored[-2]["id"],
        "response_message_id": stored[-1]["id"],
    }


def test_a_lone_surrogate_keeps_the_session_indexed(
    writer: sqlite3.Connection, reader: sqlite3.Connection, indexer: Indexer
) -> None:
    # JSON.stringify of a string cut mid-emoji: half a UTF-16 pair, which orjson rejects.
    cut = "tool output cut here \ud83d"
    first = [{"role": "user", "content": "surrogate start"}]
    second = [
        *first,
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": cut}]},
        {"role": "user", "content": "afterwards continue"},
    ]
    bodies = [
        orjson.dumps({"model": "m", "messages": first}),
        json.dumps({"model": "m", "messages": second}).encode(),
    ]
    assert b'"tool output cut here \\ud83d"' in bodies[1]
    write_batch(writer, [record(b, ts=float(i), session_id=SESSION) for i, b in enumerate(bodies)])

    assert indexer.run_once() == 2
    assert indexer.status()["status"] != FAILED
    texts = [r["text"] for r in rows(reader, "SELECT text FROM messages ORDER BY id")]
    assert texts == ["surrogate start", "ok", "tool output cut here \ufffd", "afterwards continue"]
    assert rows(reader, "SELECT DISTINCT class FROM request_index") == [{"class": "main"}]
    found = reader.execute(
        "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'afterwards'"
    ).fetchone()[0]
    assert found == 1


def test_parse_body_builds_only_the_fields_the_indexer_reads(first_turn_body: bytes) -> None:
    fixture = orjson.loads(first_turn_body)
    body = indexing.parse_body(first_turn_body)
    assert "tools" in fixture
    assert body == {name: fixture[name] for name in indexing.BODY_FIELDS}
    # A field that appears twice counts once, as orjson reads it: the last one.
    assert indexing.parse_body(b'{"max_tokens": 1, "max_tokens": 2}') == {"max_tokens": 2}
    # JSON that is not an object is returned as it is, for classification to call unreadable.
    assert indexing.parse_body(b"[1, 2]") == [1, 2]


def test_parse_body_replaces_lone_surrogates() -> None:
    body = (
        b'{"system": "cut \\ud83d", "messages": [{"role": "user", "content": "x\\ud83d y"}],'
        b' "metadata": {"\\udc00": "\\ud83d\\ude00"}, "tools": ["\\ud83d"]}'
    )
    # Each half pair becomes U+FFFD (so sqlite3 can encode it); a whole pair stays its emoji.
    assert indexing.parse_body(body) == {
        "system": "cut \ufffd",
        "messages": [{"role": "user", "content": "x\ufffd y"}],
        "metadata": {"\ufffd": "\U0001f600"},
    }


def test_parse_body_still_refuses_what_is_not_json() -> None:
    assert indexing.parse_body(b'{"a": ') is None
    assert indexing.parse_body(b"[" * 100_000) is None
    assert indexing.parse_body(b'{"tools": ' + b"[" * 100_000 + b"]" * 100_000 + b"}") is None
    assert indexing.parse_body(b"\xff\xfe") is None
    # Read by the fallback, but not storable by the indexer (orjson writes 64-bit integers).
    huge = b"100000000000000000000000"
    assert indexing.parse_body(b'{"system": "\\ud83d", "messages": [' + huge + b"]}") is None
    # What the indexer never reads cannot make a body unreadable.
    unread = b'{"system": "\\ud83d", "tools": [' + huge + b"]}"
    assert indexing.parse_body(unread) == {"system": "\ufffd"}
    assert indexing.parse_body(b'{"system": "x", "tools": "\xff"}') == {"system": "x"}
    # Text (not bytes) holding a lone surrogate itself, not its escape.
    assert indexing.parse_body('{"system": "\ud83d"}') == {"system": "\ufffd"}


def test_a_conversation_page_walks_the_conversation_index(
    config: Config, reader: sqlite3.Connection
) -> None:
    # ix_messages_conversation_id looks redundant beside (conversation_id, chain_hash), but only
    # it holds a conversation's messages in id order: without it each page sorts them all.
    executed: list[str] = []
    reader.set_trace_callback(executed.append)
    conversation_queries.messages(reader, 1, 10, 50)
    reader.set_trace_callback(None)
    sql = executed[-1]
    plan = " ".join(r[3] for r in reader.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_messages_conversation_id " in plan, plan
    assert "TEMP B-TREE" not in plan, plan
