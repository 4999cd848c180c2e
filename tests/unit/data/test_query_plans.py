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


def plan(conn: sqlite3.Connection, sql: str, params: list[Any] | dict[str, Any]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


CTES = {"SCAN hits", "SCAN page"}  # the search's own small intermediate results


def assert_indexed(steps: list[str], *, sorted_by_index: bool = True) -> None:
    for step in steps:
        if step.startswith("SCAN ") and "VIRTUAL TABLE" not in step and step not in CTES:
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
    ("f", "index"),
    [
        (rq.RequestFilter(since=1.0), "ix_requests_ts_start (ts_start>?)"),
        (
            rq.RequestFilter(since=1.0, until=2.0),
            "ix_requests_ts_start (ts_start>? AND ts_start<?)",
        ),
        (
            rq.RequestFilter(model="m", since=1.0),
            "ix_requests_model_ts_start (model=? AND ts_start>?)",
        ),
        (
            rq.RequestFilter(status="ok", since=1.0),
            "ix_requests_status_ts_start (status=? AND ts_start>?)",
        ),
        (
            rq.RequestFilter(cls="main", since=1.0),
            "ix_request_index_class_ts_start (class=? AND ts_start>?)",
        ),
    ],
)
def test_summary_searches_the_time_range(
    conn: sqlite3.Connection, f: rq.RequestFilter, index: str
) -> None:
    steps = plan(conn, *rq.summary_sql(f))
    assert any(step.startswith("SEARCH") and step.endswith(index) for step in steps), steps
    assert_indexed(steps, sorted_by_index=False)  # the groups are few: a small sort


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
        sq.SearchFilter(session="a7fef5e5-c038-416e-a21a-9d947304b249"),
        sq.SearchFilter(model="m", since=1.0, until=2.0),
    ],
)
def test_search_walks_the_match_newest_first(conn: sqlite3.Connection, f: sq.SearchFilter) -> None:
    sql, params = sq.search_sql(f)
    q = sq.match_expression('"deploy"', f.session)
    steps = plan(conn, sql, {**params, "q": q, "limit": 21, "offset": 0})
    hits = steps[: steps.index("SCAN hits")]
    # FTS5 yields the hits in rowid order itself (no sort), filters are primary-key lookups.
    assert any(s.startswith("SCAN f VIRTUAL TABLE") for s in hits), steps
    assert "SEARCH m USING INTEGER PRIMARY KEY (rowid=?)" in hits
    assert not any("TEMP B-TREE" in s for s in hits), steps
    assert_indexed(steps, sorted_by_index=False)  # bm25 order is a sort of one window of hits


def test_a_session_filter_is_part_of_the_match() -> None:
    assert sq.match_expression('("x")', "a7fef5e5-c038") == (
        'text : (("x")) AND session_id : "a7fef5e5-c038"'
    )
    assert sq.match_expression('("x")', "--") == 'text : (("x"))'  # no token: SQL filter only
    assert sq.match_expression('("x")', 'a"\x00b') == 'text : (("x")) AND session_id : "a"" b"'
