"""One indexing step: read requests past the watermark, derive their rows, write them.

``analyse`` turns a request row into what the index needs (class, conversation key, messages with
chain hashes, the reassembled response); it runs before the write transaction so parsing large
bodies never holds the database lock. ``write`` stores analyses and the new watermark in the
caller's ``BEGIN IMMEDIATE`` transaction until a byte budget is spent, so each transaction holds
the write lock for a few tens of milliseconds however much new history a batch brings; the
indexer commits and calls it again for the rest.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from ccp_data import assembly, classify
from ccp_data import conversations as conv
from ccp_data.conversations import Message
from ccp_data.history import Histories
from ccp_shared.bodies import KEYFRAME_JOIN, REQUEST_BODY_COLUMNS, request_body_of
from ccp_shared.session import session_of

log = logging.getLogger("ccp_data.indexer")

WATERMARK = "indexer"
# Bodies parsed per batch (a batch also ends at indexer.batch_size requests): it bounds memory.
# A batch is written in as many transactions as WRITE_BYTES needs.
BATCH_BYTES = 8 * 1024 * 1024
# What one write transaction stores before it commits: the characters of new messages' text and
# content, plus ROW_BYTES for each row. Inserting (FTS5 tokenising the text) runs at roughly
# 50-100 ms per MB on one core, so this holds the write lock for a few tens of milliseconds, far
# below proxy-core's 2 s busy timeout, even when a resumed session brings megabytes of history
# not stored yet. Row counts are bounded too: many small rows cost as much as a few large ones.
WRITE_BYTES = 512 * 1024
ROW_BYTES = 256
# A string orjson refuses because it holds half a UTF-16 pair (JSON.stringify writes one when it
# cuts a string mid-emoji); sqlite3 cannot encode it either, so it becomes U+FFFD.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")

# The request body is read as bytes: orjson parses UTF-8 directly, while a str would first be
# decoded by sqlite3 and then encoded again by orjson (~40 % of the parse of a 60 KB body). A body
# stored as a difference is rebuilt from its keyframe, joined here (ccp_shared.bodies).
PENDING_SQL = f"""
SELECT r.seq, r.id, r.ts_start, r.ts_end, r.path, r.session_id, r.agent_id, r.model,
       r.model_requested, r.request_bytes, r.response_bytes,
       {REQUEST_BODY_COLUMNS}, b.response_body
FROM requests AS r LEFT JOIN request_bodies AS b ON b.request_id = r.id {KEYFRAME_JOIN}
WHERE r.seq > ? ORDER BY r.seq LIMIT ?
"""


@dataclass(slots=True)
class Analysis:
    """Everything ``write`` stores for one request."""

    seq: int
    request_id: str
    ts: float
    ts_end: float
    cls: str
    model: str | None
    conversation_key: str | None = None
    session_id: str | None = None
    agent_id: str = conv.MAIN_AGENT
    kind: str = classify.MAIN
    prompt: list[Message] = field(default_factory=list)
    response: Message | None = None


class _BodyParts(msgspec.Struct):
    """The fields of a request body the indexer reads, each kept as its JSON text. The rest is
    skipped, never built: in Claude Code's 50 KB first turn, ``tools`` alone is 32 KB and no index
    needs it (28 µs against 45 µs for orjson building all of it). A skipped field is only read far
    enough to find its end, so bad UTF-8 or deep nesting there no longer hides the rest."""

    messages: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    system: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    max_tokens: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    metadata: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


BODY_FIELDS = tuple(_BodyParts.__struct_fields__)
_read_parts = msgspec.json.Decoder(_BodyParts).decode


def parse_body(text: str | bytes | None) -> Any:
    """The fields in BODY_FIELDS of a request body (a dict holding those present), the body
    itself when it is JSON but not an object, or None for a missing, truncated or non-JSON body.

    Each field is built by orjson, as the indexer stores parts of it with orjson. orjson rejects a
    lone surrogate escape (``"\\ud83d"``), which JavaScript clients emit when they cut a string
    mid-emoji; such a body is read by the standard library instead, with each lone surrogate
    replaced by U+FFFD, rather than dropping the request and every later turn of its session from
    conversations and search."""
    if not text:
        return None
    try:
        parts = _read_parts(text)
        return {
            name: orjson.loads(memoryview(raw))
            for name in BODY_FIELDS
            if len(raw := getattr(parts, name))
        }
    except (msgspec.DecodeError, orjson.JSONDecodeError, RecursionError, UnicodeError):
        pass  # not JSON, not an object, or JSON that only the fallback reads
    try:
        body = _without_surrogates(json.loads(text))
        if isinstance(body, dict):
            body = {name: body[name] for name in BODY_FIELDS if name in body}
        # The indexer stores parts of the body with orjson: anything it cannot write (an integer
        # past 64 bits, say) makes the body unreadable here rather than failing the indexer.
        orjson.dumps(body)
    except (ValueError, RecursionError, orjson.JSONEncodeError):
        return None  # not JSON, nested deeper than Python recurses, or not storable
    return body


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def conversation_slot(cls: str, agent_id: str | None, prompt: list[Message]) -> tuple[str, str]:
    """(agent slot, kind): helpers get their own thread so they don't fork the main one."""
    if cls in classify.HELPER_CLASSES:
        return cls, cls
    if agent_id:
        return agent_id, classify.SUBAGENT
    if cls == classify.SUBAGENT:
        # Older clients send no agent id: each subagent task is its own thread.
        return f"subagent-{prompt[0].chain_hash[:12]}", classify.SUBAGENT
    return conv.MAIN_AGENT, classify.MAIN


def analyse(row: sqlite3.Row, histories: Histories | None = None) -> Analysis:
    """``histories`` (the indexer's) lets a resent history be hashed only where it is new."""
    raw = request_body_of(row)
    body = parse_body(raw)
    cls = classify.classify(row["path"], row["agent_id"], body)
    ts_end = row["ts_end"] if row["ts_end"] is not None else row["ts_start"]
    model = row["model"] or row["model_requested"]
    result = Analysis(row["seq"], row["id"], row["ts_start"], ts_end, cls, model)
    if cls == classify.COUNT_TOKENS:
        return result  # a copy of a history being measured, not a turn
    session = session_of(row["session_id"], body)
    items = conv.message_items(body)
    prompt = _prompt(items, histories, (session, row["agent_id"], cls), len(raw or b""))
    if not prompt:
        return result
    agent, kind = conversation_slot(cls, row["agent_id"], prompt)
    scope = session if session else f"nosession:{prompt[0].chain_hash}"
    result.conversation_key = f"{scope}/{agent}"
    result.session_id = session
    result.agent_id = agent
    result.kind = kind
    result.prompt = prompt
    result.response = conv.response_message(prompt, assembly.assemble(row["response_body"]))
    return result


def _prompt(
    items: list[dict[str, Any]],
    histories: Histories | None,
    thread: tuple[str | None, str | None, str],
    size: int,
) -> list[Message]:
    """The prompt's messages; a thread's resend reuses the prefix ``histories`` already built.
    Helper calls are one-off prompts: remembering them would only push threads out. ``size``
    is the body's length, what the history costs ``histories`` to remember."""
    session, _, cls = thread
    if histories is None or not session or cls in classify.HELPER_CLASSES:
        return conv.chain_of(items)
    return histories.messages(thread, items, size)


def analyse_safely(row: sqlite3.Row, histories: Histories | None = None) -> Analysis:
    """``analyse``, but a request that trips a bug is indexed as ``other`` instead of stalling
    the indexer on it forever; the traceback goes to the log."""
    try:
        return analyse(row, histories)
    except Exception:
        log.exception("indexing request %s failed; indexed as class other", row["id"])
        ts = row["ts_start"]
        return Analysis(row["seq"], row["id"], ts, ts, classify.OTHER, row["model"])


def pending(
    conn: sqlite3.Connection, watermark: int, limit: int, histories: Histories | None = None
) -> Iterator[Analysis]:
    """Analyses of the requests after ``watermark``, at most ``limit`` or about BATCH_BYTES."""
    budget = BATCH_BYTES
    cursor = conn.execute(PENDING_SQL, (watermark, limit))
    try:
        for row in cursor:
            yield analyse_safely(row, histories)
            budget -= (row["request_bytes"] or 0) + (row["response_bytes"] or 0)
            if budget <= 0:
                return
    finally:
        # An unfinished statement would keep its read snapshot open, and BEGIN IMMEDIATE on a
        # stale snapshot fails with SQLITE_BUSY_SNAPSHOT once core has committed since.
        cursor.close()


def read_watermark(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM indexer_state WHERE name = ?", (WATERMARK,)).fetchone()
    return int(row[0]) if row else 0


class Budget:
    """What a write transaction may still store (see WRITE_BYTES). The row that spends it is
    written whole, so every transaction stores at least one row and the indexer always advances."""

    __slots__ = ("left",)

    def __init__(self, size: int | None = None) -> None:
        self.left = WRITE_BYTES if size is None else size

    @property
    def spent(self) -> bool:
        return self.left <= 0

    def charge(self, size: int) -> None:
        self.left -= size + ROW_BYTES


def write(conn: sqlite3.Connection, batch: Sequence[Analysis], budget: Budget | None = None) -> int:
    """Store the analyses at the start of ``batch`` until ``budget`` is spent, in the caller's
    transaction, and move the watermark past the last one stored whole; how many that is.

    A request with more new messages than a budget holds takes several calls: each stores the
    next messages of its chain (the ones stored before are found again by their chain hashes),
    and only the call that stores its last message counts it and writes its request row. So a
    crash between two calls leaves at most stored messages that the next run finds and keeps.
    """
    budget = budget if budget is not None else Budget()
    done = 0
    for analysis in batch:
        if budget.spent:
            break
        indexed = conn.execute("SELECT 1 FROM request_index WHERE seq = ?", (analysis.seq,))
        # A request already indexed (e.g. under a watermark restored from a backup) is skipped.
        if indexed.fetchone() is None and not _write_one(conn, analysis, budget):
            break
        done += 1
    if done:
        conn.execute(
            "INSERT INTO indexer_state (name, seq, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, "
            "updated_at = excluded.updated_at",
            (WATERMARK, batch[done - 1].seq, time.time()),
        )
    return done


def _write_one(conn: sqlite3.Connection, a: Analysis, budget: Budget) -> bool:
    """Store ``a``, or as many of its new messages as ``budget`` allows; whether it is done."""
    conversation_id = prompt_id = response_id = None
    if a.conversation_key is not None:
        conversation_id = _upsert_conversation(conn, a)
        prompt_id, added, complete = _store_chain(conn, conversation_id, a.prompt, a, a.ts, budget)
        if complete and a.response is not None:
            response_id, more, complete = _store_chain(
                conn, conversation_id, [a.response], a, a.ts_end, budget, parent_id=prompt_id
            )
            added += more
        if added or complete:
            conn.execute(
                "UPDATE conversations SET message_count = message_count + ?, "
                "request_count = request_count + ? WHERE id = ?",
                (added, int(complete), conversation_id),
            )
        if not complete:
            return False
    conn.execute(
        "INSERT INTO request_index (seq, request_id, class, ts_start, conversation_id, "
        "message_count, prompt_message_id, response_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (a.seq, a.request_id, a.cls, a.ts, conversation_id, len(a.prompt), prompt_id, response_id),
    )
    budget.charge(0)
    return True


def _upsert_conversation(conn: sqlite3.Connection, a: Analysis) -> int:
    """The conversation's id, creating it or merging this request's times, model and title (all
    idempotent, as a request stored over several transactions comes here once for each)."""
    row = conn.execute(
        "INSERT INTO conversations (key, session_id, agent_id, kind, title, model, first_ts, "
        "last_ts, request_count, message_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0) "
        "ON CONFLICT (key) DO UPDATE SET "
        "first_ts = min(first_ts, excluded.first_ts), "
        "last_ts = max(last_ts, excluded.last_ts), "
        "model = CASE WHEN excluded.last_ts >= last_ts "
        "  THEN coalesce(excluded.model, model) ELSE model END, "
        "title = coalesce(title, excluded.title) "
        "RETURNING id",
        (
            a.conversation_key,
            a.session_id,
            a.agent_id,
            a.kind,
            conv.title_of(a.prompt),
            a.model,
            a.ts,
            a.ts_end,
        ),
    ).fetchone()
    return int(row[0])


def _store_chain(
    conn: sqlite3.Connection,
    conversation_id: int,
    chain: list[Message],
    a: Analysis,
    ts: float,
    budget: Budget,
    parent_id: int | None = None,
) -> tuple[int | None, int, bool]:
    """Insert the messages of ``chain`` not stored yet, while ``budget`` lasts; (id of the last
    message stored, count added, whether the whole chain is stored now).

    A chain hash covers the whole history before it, so once a message is found every earlier
    one is stored too: walk back from the end to the newest known message and insert after it.
    """
    known = 0
    last_id = parent_id
    for i in range(len(chain) - 1, -1, -1):
        found = conn.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND chain_hash = ?",
            (conversation_id, chain[i].chain_hash),
        ).fetchone()
        if found:
            known, last_id = i + 1, int(found[0])
            break
    added = 0
    for message in chain[known:]:
        if budget.spent:
            return last_id, added, False
        text = message.text
        content = orjson.dumps(message.content).decode()
        cursor = conn.execute(
            "INSERT INTO messages (conversation_id, parent_id, position, chain_hash, role, kind, "
            "text, content, request_id, ts, model, session_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                last_id,
                message.position,
                message.chain_hash,
                message.role,
                message.kind,
                text,
                content,
                a.request_id,
                ts,
                a.model,
                a.session_id,
            ),
        )
        budget.charge(len(text) + len(content))
        last_id = cursor.lastrowid
        added += 1
    return last_id, added, True
