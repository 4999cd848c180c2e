"""deploy/Caddyfile's 64 MiB check: its regular expression must say "more than 67108864"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "Caddyfile"
LIMIT = 64 * 1024 * 1024


def too_large_pattern() -> re.Pattern[str]:
    match = re.search(r"@too_large header_regexp Content-Length (\S+)", CADDYFILE.read_text())
    assert match, "deploy/Caddyfile has no @too_large header_regexp matcher"
    # The pattern uses nothing beyond what RE2 (Caddy) and Python's re read alike.
    return re.compile(match.group(1))


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("0", False),
        ("67108863", False),
        ("67108864", False),
        ("067108864", False),
        ("67108865", True),
        ("0067108865", True),
        ("67108870", True),
        ("67109000", True),
        ("68000000", True),
        ("99999999", True),
        ("100000000", True),
        ("99999999999999999999", True),
        ("", False),
        ("12a", False),
        ("-1", False),
    ],
)
def test_boundaries(value: str, refused: bool) -> None:
    assert bool(too_large_pattern().match(value)) is refused


LENGTHS = st.one_of(
    st.integers(min_value=LIMIT - 10**6, max_value=LIMIT + 10**6),
    st.integers(min_value=0, max_value=10**15),
)


@given(LENGTHS, st.integers(min_value=0, max_value=3))
def test_any_length_is_refused_exactly_when_over_64_mib(length: int, zeros: int) -> None:
    assert bool(too_large_pattern().match("0" * zeros + str(length))) is (length > LIMIT)
