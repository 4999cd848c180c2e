from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccp_data.timeparse import parse_range, parse_time
from ccp_shared.errors import InvalidRequest

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1767225600", NOW),
        ("1767225600.5", NOW + 0.5),
        ("1767225600000", NOW),  # milliseconds
        ("2026-01-01T00:00:00Z", NOW),
        ("2026-01-01T01:00:00+01:00", NOW),
        ("2026-01-01", NOW),  # no zone: UTC
        ("2026-01-01 00:00:10", NOW + 10),
        ("now", NOW),
        ("90s", NOW - 90),
        ("15m", NOW - 900),
        ("24h", NOW - 86400),
        ("7d", NOW - 7 * 86400),
        ("1w", NOW - 7 * 86400),
    ],
)
def test_accepted_forms(raw: str, expected: float) -> None:
    assert parse_time(raw, name="since", now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "yesterday",
        "2026-13-01",
        "-5",
        "nan",
        "inf",
        "1e300",
        "5y",
        "9" * 400 + "w",  # the span overflows to inf
        "99999999999w",  # before 1970
        "1969-12-31T23:59:59Z",
        "\u00b2h",  # a Unicode digit
        "\u0663h",  # Arabic-Indic three: float() takes it, the span syntax is ASCII
    ],
)
def test_rejected_forms_name_the_parameter(raw: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^until: "):
        parse_time(raw, name="until", now=NOW)


@given(st.text(max_size=60))
def test_any_text_is_a_time_or_a_bad_request(raw: str) -> None:
    try:
        value = parse_time(raw, name="since", now=NOW)
    except InvalidRequest:
        return
    assert 0 <= value <= 253402300799.0  # 1970 to 9999-12-31


def test_range_defaults_and_order() -> None:
    assert parse_range(None, None, now=NOW) == (NOW - 86400, None)
    assert parse_range(None, "now", now=NOW, default_span=60) == (NOW - 60, NOW)
    assert parse_range(None, None, now=NOW, default_span=None) == (None, None)
    with pytest.raises(InvalidRequest, match="since"):
        parse_range("1h", "2h", now=NOW)
