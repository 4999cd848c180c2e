"""Reads of conversations: the filtered list, and one conversation's messages and turns.

The list is keyset-paginated on ``(last_ts, id)``, most recently active first, through the
``conversations(session_id|kind|model, last_ts)`` indexes. A conversation's messages come in
the order they were first seen (each names its ``parent_id``, so a client can draw branches); its
turns are its requests, each pointing at the last message of its
prompt and at the message its response became.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

CONVERSATION_COLUMNS = (
    "id",
    "session_id",
    "agent_id",
    "kind",
    "title",
    "model",
    "first_ts",
    "last_ts",
    "request_count",
    "message_count",
)
MESSAGE_COLUMNS = (
    "id",
    "parent_id",
    "position",
    "role",
    "kind",
    "content",
    "request_id",
    "ts",
    "model",
)

Cursor = tuple[float, int]


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    session: str | None = None
    kind: str | None = None
    model: str | None = None
    since: float | None = None
    until: float | None = None


def _rows(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[sqlite3.Row]:
    cursor = conn.execute(sql, params)
    cursor.row_factory = sqlite3.Row
    return cursor.fetchall()


def list_sql(f: ConversationFilter, after: Cursor | None, limit: int) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("session_id", f.session), ("kind", f.kind), ("model", f.model)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if f.since is not None:
        clauses.append("last_ts >= ?")  # active since: its latest turn is in the range
        params.append(f.since)
    if f.until is not None:
        clauses.append("first_ts < ?")
        params.append(f.until)
    if after is not None:
        clauses.append("(last_ts, id) < (?, ?)")
        params.extend(after)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    columns = ", ".join(CONVERSATION_COLUMNS)
    sql = f"SELECT {columns} FROM conversations {where} ORDER BY last_ts DESC, id DESC LIMIT ?"
    return sql, [*params, limit]


def list_conversations(
    conn: sqlite3.Connection, f: ConversationFilter, after: Cursor | None, limit: int
) -> tuple[list[dict[str, Any]], Cursor | None]:
    sql, params = list_sql(f, after, limit + 1)
    rows = _rows(conn, sql, params)
    items = [dict(row) for row in rows[:limit]]
    more = len(rows) > limit
    return items, ((items[-1]["last_ts"], items[-1]["id"]) if more and items else None)


def get_conversation(conn: sqlite3.Connection, conversation_id: int) -> dict[str, Any] | None:
    rows = _rows(
        conn,
        f"SELECT {', '.join(CONVERSATION_COLUMNS)} FROM conversations WHERE id = ?",
        [conversation_id],
    )
    return dict(rows[0]) if rows else None


def messages(
    conn: sqlite3.Connection, conversation_id: int, after: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the conversation's messages in the order they were first seen, and the next
    page's cursor. A history is inserted in order, so this is history order; a rewound or
    compacted history follows as its own run of messages instead of interleaving by position."""
    sql = f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM messages WHERE conversation_id = ?"
    params: list[Any] = [conversation_id]
    if after is not None:
        sql += " AND id > ?"
        params.append(after)
    sql += " ORDER BY id LIMIT ?"
    rows = _rows(conn, sql, [*params, limit + 1])
    items = []
    for row in rows[:limit]:
        item = dict(row)
        item["content"] = orjson.loads(item["content"])
        items.append(item)
    more = len(rows) > limit
    return items, (items[-1]["id"] if more and items else None)


def turns(conn: sqlite3.Connection, conversation_id: int) -> list[dict[str, Any]]:
    """The conversation's requests in time order, each with its prompt's last message and its
    response message."""
    rows = _rows(
        conn,
        "SELECT ri.request_id, ri.seq, ri.ts_start, ri.class, ri.message_count, "
        "ri.prompt_message_id, ri.response_message_id, r.model, r.status, r.stop_reason, "
        "r.input_tokens, r.output_tokens, r.cache_read_input_tokens, "
        "r.cache_creation_input_tokens, r.ttft_ms, r.duration_ms "
        "FROM request_index AS ri CROSS JOIN requests AS r ON r.seq = ri.seq "
        "WHERE ri.conversation_id = ? ORDER BY ri.ts_start, ri.seq",
        [conversation_id],
    )
    return [dict(row) for row in rows]
