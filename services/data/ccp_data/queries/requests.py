"""Reads of recorded requests: the filtered list, its summary, and one request in full.

The list is keyset-paginated on ``(ts_start, seq)``, newest first, and every filter has an index
that yields rows already in that order (``requests(model|status|session_id, ts_start)``, or
``request_index(class, ts_start)`` when filtering by class), so a page costs ``limit`` index steps
however large the table is. Requests not indexed yet are listed too, with ``class`` null.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson

from ccp_data import assembly
from ccp_shared.bodies import KEYFRAME_JOIN, REQUEST_BODY_COLUMNS, request_body_of

# Columns of the list (bodies and headers stay out: they live in request_bodies).
LIST_COLUMNS = (
    "seq",
    "id",
    "ts_start",
    "ts_end",
    "method",
    "path",
    "query",
    "session_id",
    "agent_id",
    "client",
    "model_requested",
    "model",
    "provider",
    "route",
    "stream",
    "status",
    "http_status",
    "error_type",
    "error_message",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation_5m_tokens",
    "cache_creation_1h_tokens",
    "stop_reason",
    "ttft_ms",
    "duration_ms",
    "request_bytes",
    "response_bytes",
)
TOKEN_COLUMNS = LIST_COLUMNS[19:25]
_SELECT = ", ".join(f"r.{c}" for c in LIST_COLUMNS) + ", ri.class, ri.conversation_id"

Cursor = tuple[float, int]


@dataclass(frozen=True, slots=True)
class RequestFilter:
    model: str | None = None
    status: str | None = None
    session: str | None = None
    cls: str | None = None
    since: float | None = None
    until: float | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions on ``r`` (requests) and ``ri`` (request_index), with parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("r.model", self.model),
            ("r.status", self.status),
            ("r.session_id", self.session),
            ("ri.class", self.cls),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("r.ts_start >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("r.ts_start < ?")
            params.append(self.until)
        return clauses, params


def _source(f: RequestFilter) -> str:
    # With a class filter the class index drives the query (CROSS JOIN fixes the loop order);
    # otherwise requests drives it and index rows are looked up by primary key.
    if f.cls is not None:
        return "request_index AS ri CROSS JOIN requests AS r ON r.seq = ri.seq"
    return "requests AS r LEFT JOIN request_index AS ri ON ri.seq = r.seq"


def list_sql(f: RequestFilter, after: Cursor | None, limit: int) -> tuple[str, list[Any]]:
    clauses, params = f.where()
    order = "ri.ts_start DESC, ri.seq DESC" if f.cls is not None else "r.ts_start DESC, r.seq DESC"
    if after is not None:
        key = "(ri.ts_start, ri.seq)" if f.cls is not None else "(r.ts_start, r.seq)"
        clauses.append(f"{key} < (?, ?)")
        params.extend(after)
    if f.cls is not None and f.since is not None:
        clauses.append("ri.ts_start >= ?")  # lets the class index bound the range too
        params.append(f.since)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {_SELECT} FROM {_source(f)} {where} ORDER BY {order} LIMIT ?"
    return sql, [*params, limit]


def _rows(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[sqlite3.Row]:
    cursor = conn.execute(sql, params)
    cursor.row_factory = sqlite3.Row
    return cursor.fetchall()


def list_item(row: sqlite3.Row) -> dict[str, Any]:
    item = {column: row[column] for column in LIST_COLUMNS}
    item["stream"] = bool(item["stream"])
    item["class"] = row["class"]
    item["conversation_id"] = row["conversation_id"]
    return item


def list_requests(
    conn: sqlite3.Connection, f: RequestFilter, after: Cursor | None, limit: int
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """A page of requests, newest first, and the cursor of the next page (None at the end)."""
    sql, params = list_sql(f, after, limit + 1)
    rows = _rows(conn, sql, params)
    items = [list_item(row) for row in rows[:limit]]
    more = len(rows) > limit
    return items, ((items[-1]["ts_start"], items[-1]["seq"]) if more and items else None)


def summary_sql(f: RequestFilter) -> tuple[str, list[Any]]:
    clauses, params = f.where()
    if f.cls is not None and f.since is not None:
        clauses.append("ri.ts_start >= ?")
        params.append(f.since)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    # "+r.status": grouping by a plain status lets SQLite walk the whole status index to save
    # a sort of a few groups, instead of searching the time range in ix_requests_ts_start.
    sql = (
        f"SELECT r.status, ri.class, r.model, count(*) AS n FROM {_source(f)} {where} "
        "GROUP BY +r.status, ri.class, r.model"
    )
    return sql, params


def summary(conn: sqlite3.Connection, f: RequestFilter) -> dict[str, Any]:
    """Counts of the filtered requests by status, class and model."""
    sql, params = summary_sql(f)
    by_status: Counter[str] = Counter()
    by_class: Counter[str] = Counter()
    by_model: Counter[str] = Counter()
    for status, cls, model, n in conn.execute(sql, params):
        by_status[status] += n
        by_class[cls if cls is not None else "unindexed"] += n
        by_model[model if model is not None else "unknown"] += n
    return {
        "total": sum(by_status.values()),
        "by_status": dict(by_status.most_common()),
        "by_class": dict(by_class.most_common()),
        "by_model": dict(by_model.most_common()),
    }


def _json_or_text(text: str | None) -> tuple[Any, str | None]:
    """(parsed JSON, None) or (None, the raw text) when the text is not JSON."""
    if text is None:
        return None, None
    try:
        return orjson.loads(text), None
    except orjson.JSONDecodeError:
        return None, text


def get_request(conn: sqlite3.Connection, request_id: str) -> dict[str, Any] | None:
    """One request in full: row, class, masked headers, bodies and the reassembled response."""
    rows = _rows(
        conn,
        f"SELECT {_SELECT}, r.upstream_url, r.key_hash, r.route_decision, "
        f"b.request_headers, b.response_headers, {REQUEST_BODY_COLUMNS}, b.response_body "
        "FROM requests AS r LEFT JOIN request_index AS ri ON ri.seq = r.seq "
        f"LEFT JOIN request_bodies AS b ON b.request_id = r.id {KEYFRAME_JOIN} WHERE r.id = ?",
        [request_id],
    )
    if not rows:
        return None
    row = rows[0]
    detail = list_item(row)
    body = request_body_of(row)
    request_body, request_raw = _json_or_text(
        None if body is None else body.decode("utf-8", "replace")
    )
    response_text = row["response_body"]
    response = assembly.assemble(response_text)
    detail.update(
        upstream_url=row["upstream_url"],
        key_hash=row["key_hash"],
        route_decision=_json_or_text(row["route_decision"])[0],
        request_headers=_json_or_text(row["request_headers"])[0] or {},
        response_headers=_json_or_text(row["response_headers"])[0] or {},
        request_body=request_body,
        request_body_raw=request_raw,
        response=response,
        # A body that is neither JSON nor SSE (an HTML error page, say) is shown as it came.
        response_body_raw=response_text if response is None else None,
        timings={
            "ts_start": row["ts_start"],
            "ts_end": row["ts_end"],
            "ttft_ms": row["ttft_ms"],
            "duration_ms": row["duration_ms"],
        },
        tokens={column: row[column] for column in TOKEN_COLUMNS},
    )
    return detail
