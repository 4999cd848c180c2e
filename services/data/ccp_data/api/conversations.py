"""``/api/conversations``, ``/api/conversations/search``, ``/api/conversations/{id}``."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccp_data.api import params
from ccp_data.classify import HELPER_CLASSES, MAIN, SUBAGENT
from ccp_data.jsonresponse import ORJSONResponse
from ccp_data.pagination import decode_cursor, encode_cursor, parse_limit
from ccp_data.queries import conversations as queries
from ccp_data.queries import search as search_queries
from ccp_data.search import QueryError, to_fts
from ccp_data.timeparse import parse_range
from ccp_shared.errors import InvalidRequest, NotFound

MESSAGES_DEFAULT_LIMIT = 500
MESSAGES_MAX_LIMIT = 2000
SEARCH_DEFAULT_LIMIT = 20
SEARCH_MAX_LIMIT = 100
CONVERSATION_KINDS = frozenset({MAIN, SUBAGENT, *HELPER_CLASSES})


def _range(request: Request) -> tuple[float | None, float | None]:
    return parse_range(
        params.text(request, "since"),
        params.text(request, "until"),
        now=time.time(),
        default_span=None,
    )


async def list_conversations(request: Request) -> Response:
    """Conversations, most recently active first; filters session, kind, model, since, until."""
    since, until = _range(request)
    kind = params.text(request, "kind")
    if kind is not None and kind not in CONVERSATION_KINDS:
        raise InvalidRequest(f"kind: expected one of {', '.join(sorted(CONVERSATION_KINDS))}")
    f = queries.ConversationFilter(
        session=params.text(request, "session"),
        kind=kind,
        model=params.text(request, "model"),
        since=since,
        until=until,
    )
    limit = parse_limit(params.text(request, "limit"))
    after = decode_cursor(params.text(request, "cursor"), (float, int))
    items, next_key = await request.app.state.db.read(queries.list_conversations, f, after, limit)
    return ORJSONResponse(
        {"conversations": items, "next_cursor": encode_cursor(next_key) if next_key else None}
    )


def _conversation_id(request: Request) -> int:
    raw = request.path_params["conversation_id"]
    # isdigit() alone accepts "²" and other Unicode digits that int() refuses.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidRequest(f"id: a conversation id is a positive integer, got {raw!r}")
    return int(raw)


async def detail(request: Request) -> Response:
    """One conversation: its messages in history order (paged) and its turns."""
    conversation_id = _conversation_id(request)
    limit = parse_limit(
        params.text(request, "limit"),
        default=MESSAGES_DEFAULT_LIMIT,
        maximum=MESSAGES_MAX_LIMIT,
    )
    cursor = decode_cursor(params.text(request, "cursor"), (int,))
    after = int(cursor[0]) if cursor else None
    db = request.app.state.db
    conversation = await db.read(queries.get_conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation with id {conversation_id}")
    messages, next_key = await db.read(queries.messages, conversation_id, after, limit)
    turns = await db.read(queries.turns, conversation_id) if after is None else None
    return ORJSONResponse(
        {
            "conversation": conversation,
            "messages": messages,
            "turns": turns,
            "next_cursor": encode_cursor([next_key]) if next_key else None,
        }
    )


async def search(request: Request) -> Response:
    """Full-text search of messages (bm25 order, highlighted snippets); filters model, session,
    since, until."""
    q = request.query_params.get("q")
    if q is None or not q.strip():
        raise InvalidRequest("q: give the text to search for")
    since, until = _range(request)
    f = search_queries.SearchFilter(
        model=params.text(request, "model"),
        session=params.text(request, "session"),
        since=since,
        until=until,
    )
    limit = parse_limit(
        params.text(request, "limit"), default=SEARCH_DEFAULT_LIMIT, maximum=SEARCH_MAX_LIMIT
    )
    cursor = decode_cursor(params.text(request, "cursor"), (int,))
    offset = int(cursor[0]) if cursor else 0
    if not 0 <= offset < search_queries.RANK_WINDOW:
        raise InvalidRequest("cursor: not a cursor this API returned")
    try:
        fts_query = to_fts(q)
        results, next_offset = await request.app.state.db.read(
            search_queries.search, fts_query, f, offset, limit
        )
    except QueryError as exc:  # the user's text, not our fault: say what to change
        raise InvalidRequest(str(exc)) from None
    return ORJSONResponse(
        {
            "query": fts_query,
            "results": results,
            "next_cursor": encode_cursor([next_offset]) if next_offset is not None else None,
        }
    )


routes = [
    Route("/api/conversations", list_conversations, methods=["GET"]),
    Route("/api/conversations/search", search, methods=["GET"]),
    Route("/api/conversations/{conversation_id}", detail, methods=["GET"]),
]
