"""Full-text search over messages: FTS5 MATCH, bm25 rank, highlighted snippets.

Ranking every hit of a common word costs as much as the word is common, so a search ranks the
``RANK_WINDOW`` most recent matching messages (all of them, for any word rarer than that) by
bm25, and computes snippets for the returned page only (in one more pass of the match, over the
page's rowid range). FTS5 walks the match newest first (rowid order, which it keeps without
sorting); each hit joins its message and conversation by primary key, where the model and time
filters apply. A session filter goes into the MATCH itself (the
session id is an FTS column), so FTS5 intersects posting lists instead of the query testing every
hit of a common word against the session.

``fts_query`` must come from ``ccp_data.search.to_fts``; should FTS5 still refuse it, that is a
``QueryError`` (a 400 for the user), not a server error.
"""

from __future__ import annotations

import html
import sqlite3
from dataclasses import dataclass
from typing import Any

from ccp_data.search import QueryError, phrase

RANK_WINDOW = 2000
# FTS5 marks matches with control characters, so that the recorded text can be HTML-escaped
# before the marks become <mark> tags: a snippet is safe to put into a page as HTML.
_OPEN, _CLOSE = "\x02", "\x03"  # char(2) and char(3) in _PAGE
SNIPPET_OPEN = "<mark>"
SNIPPET_CLOSE = "</mark>"
SNIPPET_TOKENS = 24

_HITS = (
    "SELECT f.rowid AS id, bm25(messages_fts, 1.0, 0.0) AS rank FROM messages_fts AS f "
    "JOIN messages AS m ON m.id = f.rowid "
    "WHERE messages_fts MATCH :q {filters} ORDER BY f.rowid DESC LIMIT :window"
)
# Snippets need the match again. Matching once per page row would rebuild a prefix term's merged
# posting list (every word starting "f", say) for each of them; one match over the page's rowid
# range builds it once, and snippet() runs only for the rows that are on the page.
_PAGE = (
    "WITH hits AS ({hits}), "
    "page AS MATERIALIZED ("
    "SELECT id, rank FROM hits ORDER BY rank, id LIMIT :limit OFFSET :offset) "
    "SELECT m.id AS message_id, m.request_id, m.conversation_id, m.session_id, c.agent_id, "
    "c.kind AS conversation_kind, c.title, m.role, m.kind, m.position, m.ts, m.model, "
    f"snippet(messages_fts, 0, char(2), char(3), '…', {SNIPPET_TOKENS}) "
    "AS snippet, page.rank "
    "FROM messages_fts CROSS JOIN page ON page.id = messages_fts.rowid "
    "JOIN messages AS m ON m.id = page.id JOIN conversations AS c ON c.id = m.conversation_id "
    "WHERE messages_fts MATCH :q "
    "AND messages_fts.rowid BETWEEN (SELECT min(id) FROM page) AND (SELECT max(id) FROM page) "
    "ORDER BY page.rank, page.id"
)


@dataclass(frozen=True, slots=True)
class SearchFilter:
    model: str | None = None
    session: str | None = None
    since: float | None = None
    until: float | None = None


def match_expression(fts_query: str, session: str | None) -> str:
    """The user's query over the text column, narrowed to the session's messages if given."""
    expression = f"text : ({fts_query})"
    session_phrase = phrase(session) if session is not None else None
    if session_phrase is not None:
        expression += f" AND session_id : {session_phrase}"
    return expression


def search_sql(f: SearchFilter) -> tuple[str, dict[str, Any]]:
    """The search statement and its filter parameters (add ``q``, ``limit``, ``offset``)."""
    filters: list[str] = []
    params: dict[str, Any] = {"window": RANK_WINDOW}
    for clause, name, value in (
        ("m.model = :model", "model", f.model),
        ("m.session_id = :session", "session", f.session),  # exact, after FTS narrowed it
        ("m.ts >= :since", "since", f.since),
        ("m.ts < :until", "until", f.until),
    ):
        if value is not None:
            filters.append(f"AND {clause}")
            params[name] = value
    return _PAGE.format(hits=_HITS.format(filters=" ".join(filters))), params


def highlighted(snippet: str | None) -> str | None:
    """The snippet HTML-escaped, its match marks turned into ``<mark>`` tags."""
    if snippet is None:
        return None
    escaped = html.escape(snippet, quote=True)
    return escaped.replace(_OPEN, SNIPPET_OPEN).replace(_CLOSE, SNIPPET_CLOSE)


def search(
    conn: sqlite3.Connection, fts_query: str, f: SearchFilter, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of hits, best first, and the offset of the next page (None at the end)."""
    sql, params = search_sql(f)
    params.update(q=match_expression(fts_query, f.session), limit=limit + 1, offset=offset)
    try:
        cursor = conn.execute(sql, params)
        cursor.row_factory = sqlite3.Row
        rows = cursor.fetchall()
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc):
            raise QueryError(f"q: the search could not be run ({exc})") from None
        raise
    results = [dict(row) for row in rows[:limit]]
    for result in results:
        result["snippet"] = highlighted(result["snippet"])
    more = len(rows) > limit and offset + limit < RANK_WINDOW
    return results, (offset + limit if more else None)
