"""User search text becomes a valid FTS5 query, or a QueryError with a message — never a crash."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccp_data.search import MAX_QUERY_CHARS, MAX_TERMS, QueryError, to_fts

DOCS = [
    "deploy the service with caddy",
    "version ver1.1 was released",
    "print(x) raised an error",
    "tests pass on sqlite fts5",
    "deployment failed: tests red",
]


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(text, tokenize='unicode61 remove_diacritics 2')"
    )
    conn.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)", enumerate(DOCS))
    yield conn
    conn.close()


def hits(conn: sqlite3.Connection, text: str) -> list[int]:
    rows = conn.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid", (to_fts(text),))
    return [row[0] for row in rows]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deploy", '("deploy")'),
        ("deploy caddy", '("deploy" AND "caddy")'),
        ('"the service"', '("the service")'),
        ("deploy*", '("deploy"*)'),
        ("deploy -caddy", '("deploy") NOT "caddy"'),
        ('deploy -"with caddy"', '("deploy") NOT "with caddy"'),
        ("a OR b", '("a") OR ("b")'),
        ("a b OR c", '("a" AND "b") OR ("c")'),
        ("a AND b", '("a" AND "b")'),
        ("a NOT b", '("a") NOT "b"'),
        ("a OR b -c", '(("a") OR ("b")) NOT "c"'),
        ("OR a", '("OR" AND "a")'),
        ("a OR", '("a" AND "OR")'),
        ("NOT", '("NOT")'),
        ("NOT deploy", '("NOT" AND "deploy")'),
        ("and or", '("and" AND "or")'),
        ('say "hi', '("say" AND "hi")'),
        ('a"b', '("a""b")'),
        ("ver1.1", '("ver1.1")'),
        ("print(x)", '("print(x)")'),
        ("deploy 🎉", '("deploy")'),
    ],
)
def test_rendering(text: str, expected: str) -> None:
    assert to_fts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deploy", [0]),
        ("deploy*", [0, 4]),
        ("ver1.1", [1]),
        ("print(x)", [2]),
        ("tests -fts5", [4]),
        ("caddy OR sqlite", [0, 3]),
        ('"tests pass"', [3]),
        ("TESTS", [3, 4]),
    ],
)
def test_queries_find_what_a_user_expects(
    fts: sqlite3.Connection, text: str, expected: list[int]
) -> None:
    assert hits(fts, text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "-deploy", "-a NOT b", "***", '""', "🎉", "( )", "- -", "-"]
)
def test_nothing_to_search_is_an_error(text: str) -> None:
    with pytest.raises(QueryError, match="q: "):
        to_fts(text)


def test_limits() -> None:
    with pytest.raises(QueryError, match="longer"):
        to_fts("a" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(QueryError, match="too many"):
        to_fts(" ".join(f"w{i}" for i in range(MAX_TERMS + 1)))
    assert to_fts("x" * MAX_QUERY_CHARS).startswith('("xxx')


SPECIAL = st.sampled_from(
    [
        '"',
        "*",
        "-",
        "(",
        ")",
        "AND",
        "OR",
        "NOT",
        "ver1.1",
        ":",
        "^",
        "+",
        "NEAR",
        "🎉",
        "\x00",
        "é",
        " ",
        "\t",
        "'",
        "\\",
        "{",
        "}",
        "col:",
        "\u200b",
    ]
)
QUERIES = st.lists(st.one_of(SPECIAL, st.text(max_size=12)), max_size=30).map(" ".join) | st.text()


@settings(max_examples=400, deadline=None)
@given(QUERIES)
def test_any_text_is_a_valid_query_or_a_query_error(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(text, tokenize='unicode61 remove_diacritics 2')"
    )
    conn.execute("INSERT INTO t (text) VALUES ('deploy ver1 1 tests')")
    try:
        query = to_fts(text)
    except QueryError as exc:
        assert str(exc).startswith("q: ")
        return
    try:
        conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (query,)).fetchall()
    finally:
        conn.close()


def test_a_10kb_query_is_refused_cleanly() -> None:
    with pytest.raises(QueryError):
        to_fts("ver1.1 " * 1500)
