"""The list and search queries use indexes: no table scan, no sort of a whole table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ccp_data.queries import conversations as cq
from ccp_data.queries import requests as rq
from ccp_data.queries import search as sq


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(data_dir / "ccp.db")
    yield connection
    connection.close()


def plan(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def assert_indexed(steps: list[str], *, sorted_by_index: bool = True) -> None:
    for step in steps:
        if step.startswith("SCAN ") and "VIRTUAL TABLE" not in step:
            assert "USING INDEX" in step or "COVERING INDEX" in step, steps
    if sorted_by_index:
        assert not any("TEMP B-TREE" in step for step in steps), steps


REQUEST_FILTERS = [
    rq.RequestFilter(),
    rq.RequestFilter(model="claude-opus-5-5"),
    rq.RequestFilter(status="ok"),
    rq.RequestFilter(session="s"),
    rq.RequestFilter(cls="subagent"),
    rq.RequestFilter(cls="main", model="claude-opus-5-5", since=1.0),
    rq.RequestFilter(model="claude-opus-5-5", status="ok", since=1.0, until=2.0),
]


@pytest.mark.parametrize("f", REQUEST_FILTERS)
@pytest.mark.parametrize("after", [None, (1_800_000_000.0, 12)])
def test_request_list_walks_an_index_in_order(
    conn: sqlite3.Connection, f: rq.RequestFilter, after: rq.Cursor | None
) -> None:
    sql, params = rq.list_sql(f, after, 51)
    steps = plan(conn, sql, params)
    assert_indexed(steps)
    assert any("USING INDEX" in step for step in steps)


@pytest.mark.parametrize(
    "f",
    [
        cq.ConversationFilter(),
        cq.ConversationFilter(session="s"),
        cq.ConversationFilter(kind="subagent", since=1.0),
        cq.ConversationFilter(model="m"),
    ],
)
def test_conversation_list_walks_an_index_in_order(
    conn: sqlite3.Connection, f: cq.ConversationFilter
) -> None:
    sql, params = cq.list_sql(f, (1.0, 2), 51)
    assert_indexed(plan(conn, sql, params))


@pytest.mark.parametrize(
    "f",
    [
        sq.SearchFilter(),
        sq.SearchFilter(session="s"),
        sq.SearchFilter(model="m", since=1.0, until=2.0),
    ],
)
def test_search_is_driven_by_the_match(conn: sqlite3.Connection, f: sq.SearchFilter) -> None:
    sql, params = sq.search_sql(f)
    steps = plan(conn, sql, ['"deploy"', *params, 20, 0])
    assert steps[0].startswith("SCAN messages_fts VIRTUAL TABLE")
    # Filters only look up each hit's message and conversation by primary key.
    assert "SEARCH m USING INTEGER PRIMARY KEY (rowid=?)" in steps
    assert "SEARCH c USING INTEGER PRIMARY KEY (rowid=?)" in steps
    assert_indexed(steps, sorted_by_index=False)  # bm25 order is a sort of the hits only
