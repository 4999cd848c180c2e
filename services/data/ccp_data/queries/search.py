"""Full-text search over messages: FTS5 MATCH, bm25 rank, highlighted snippets.

The MATCH drives the query and each hit joins its message and conversation by primary key, so
filters (model, session, time) narrow the hits without scanning either table. ``fts_query`` must
come from ``ccp_data.search.to_fts``; should FTS5 still refuse it, that is a ``QueryError`` (a
400 for the user), not a server error.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ccp_data.search import QueryError

SNIPPET_OPEN = "<mark>"
SNIPPET_CLOSE = "</mark>"
SNIPPET_TOKENS = 24


@dataclass(frozen=True, slots=True)
class SearchFilter:
    model: str | None = None
    session: str | None = None
    since: float | None = None
    until: float | None = None


def search_sql(f: SearchFilter) -> tuple[str, list[Any]]:
    """The search statement; its parameters are the MATCH text, the filters, limit and offset."""
    clauses = ["messages_fts MATCH ?"]
    params: list[Any] = []
    for clause, value in (
        ("m.model = ?", f.model),
        ("c.session_id = ?", f.session),
        ("m.ts >= ?", f.since),
        ("m.ts < ?", f.until),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    sql = (
        "SELECT m.id AS message_id, m.request_id, m.conversation_id, c.session_id, c.agent_id, "
        "c.kind AS conversation_kind, c.title, m.role, m.kind, m.position, m.ts, m.model, "
        f"snippet(messages_fts, 0, '{SNIPPET_OPEN}', '{SNIPPET_CLOSE}', '…', {SNIPPET_TOKENS}) "
        "AS snippet, messages_fts.rank AS rank "
        "FROM messages_fts "
        "JOIN messages AS m ON m.id = messages_fts.rowid "
        "JOIN conversations AS c ON c.id = m.conversation_id "
        f"WHERE {' AND '.join(clauses)} "
        "ORDER BY messages_fts.rank, m.id LIMIT ? OFFSET ?"
    )
    return sql, params


def search(
    conn: sqlite3.Connection, fts_query: str, f: SearchFilter, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of hits, best first, and the offset of the next page (None at the end)."""
    sql, params = search_sql(f)
    try:
        cursor = conn.execute(sql, [fts_query, *params, limit + 1, offset])
        cursor.row_factory = sqlite3.Row
        rows = cursor.fetchall()
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc):
            raise QueryError(f"q: the search could not be run ({exc})") from None
        raise
    results = [dict(row) for row in rows[:limit]]
    return results, (offset + limit if len(rows) > limit else None)
