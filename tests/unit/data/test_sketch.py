from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccp_data.sketch import RELATIVE_ACCURACY, Sketch, merged, nearest_rank, percentiles

latencies = st.lists(
    st.floats(min_value=0.0, max_value=3_600_000.0, allow_nan=False, allow_infinity=False),
    max_size=200,
)


def exact_quantile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ceil(q * n) values at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered) - 1e-9)) - 1]


@given(latencies, latencies)
def test_merging_two_windows_equals_the_sketch_of_their_union(
    a: list[float], b: list[float]
) -> None:
    left, right = Sketch.of(a), Sketch.of(b)
    left.merge(right)
    assert left == Sketch.of(a + b)


@given(st.lists(latencies, max_size=5))
def test_merge_is_order_independent_and_survives_json(windows: list[list[float]]) -> None:
    sketches = [Sketch.of(w) for w in windows]
    forward = merged(Sketch.from_json(s.to_json()) for s in sketches)
    backward = merged(reversed(sketches))
    assert forward == backward == Sketch.of([v for w in windows for v in w])


@given(st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=1, max_size=300))
def test_quantiles_are_within_the_relative_accuracy(values: list[float]) -> None:
    sketch = Sketch.of(values)
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        estimate = sketch.quantile(q)
        expected = exact_quantile(values, q)
        assert estimate is not None
        assert abs(estimate - expected) <= RELATIVE_ACCURACY * expected * 1.0001


def test_small_windows_report_their_tail() -> None:
    sketch = Sketch.of([float(v) for v in range(100, 1001, 100)])  # 100 .. 1000 ms
    got = percentiles(sketch)
    assert got["p50"] == approx(500.0)
    assert got["p90"] == approx(900.0)
    assert got["p99"] == approx(1000.0)  # the 10th value, not the 9th
    assert [nearest_rank(q, 10) for q in (0.0, 0.5, 0.9, 0.99, 1.0)] == [1, 5, 9, 10, 10]


def approx(expected: float) -> object:
    return pytest.approx(expected, rel=RELATIVE_ACCURACY)


def test_empty_sketch_has_no_percentiles_and_zero_is_counted() -> None:
    assert percentiles(Sketch()) == {"p50": None, "p90": None, "p99": None}
    sketch = Sketch.of([0.0, 0.0, None, 5.0, float("nan")])
    assert sketch.count == 3
    assert sketch.quantile(0.0) == 0.0
    assert sketch.zeros == 2


def test_serialised_form_is_compact_and_stable() -> None:
    sketch = Sketch.of([10.0, 10.0, 20.0])
    text = sketch.to_json()
    assert text == Sketch.from_json(text).to_json()
    assert len(text) < 100  # values 2x apart are ~35 buckets apart
    assert sketch.counts[0] and sketch.counts[-1]  # canonical: no zero buckets at the edges
    assert Sketch.from_json(None) == Sketch() == Sketch.from_json("")
