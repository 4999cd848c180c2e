from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccp_data.pagination import decode_cursor, encode_cursor, parse_limit
from ccp_shared.errors import InvalidRequest


def test_a_cursor_round_trips_and_is_opaque_url_safe_text() -> None:
    token = encode_cursor([1767225600.25, 42])
    assert token.isascii() and "=" not in token and "/" not in token and "+" not in token
    assert decode_cursor(token, (float, int)) == (1767225600.25, 42)


def test_integers_are_accepted_where_floats_are_expected() -> None:
    assert decode_cursor(encode_cursor([10, 3]), (float, int)) == (10.0, 3)


def test_the_largest_sqlite_integers_are_accepted() -> None:
    extremes = encode_cursor([1.0, 2**63 - 1])
    assert decode_cursor(extremes, (float, int)) == (1.0, 2**63 - 1)
    assert decode_cursor(encode_cursor([1 - 2**63]), (int,)) == (1 - 2**63,)


@pytest.mark.parametrize("token", [None, ""])
def test_no_cursor_means_the_first_page(token: str | None) -> None:
    assert decode_cursor(token, (float, int)) is None


@pytest.mark.parametrize(
    "token",
    [
        "garbage!!",
        encode_cursor([1.0]),  # wrong arity
        encode_cursor(["x", 1]),  # wrong type
        encode_cursor([1.0, 2.5]),  # float where an int belongs
        encode_cursor([True, 1]),  # bools are not numbers here
        "eyJhIjoxfQ",  # valid base64 of a JSON object
        encode_cursor([1.0, 2**63 + 5]),  # SQLite cannot bind it: OverflowError, not a page
        encode_cursor([1.0, -(2**63)]),
        encode_cursor([2**64 - 1, 1]),  # orjson reads it as an int: out of range too
    ],
)
def test_bad_cursors_are_bad_requests(token: str) -> None:
    with pytest.raises(InvalidRequest, match="cursor"):
        decode_cursor(token, (float, int))


@given(st.text(max_size=200))
def test_any_text_is_a_cursor_or_a_bad_request(token: str) -> None:
    try:
        decode_cursor(token, (float, int))
    except InvalidRequest:
        pass


@pytest.mark.parametrize(("raw", "expected"), [(None, 50), ("", 50), ("1", 1), ("500", 500)])
def test_limits(raw: str | None, expected: int) -> None:
    assert parse_limit(raw) == expected


@pytest.mark.parametrize("raw", ["0", "501", "-1", "ten", "1.5"])
def test_bad_limits_name_the_parameter(raw: str) -> None:
    with pytest.raises(InvalidRequest, match="limit"):
        parse_limit(raw)
