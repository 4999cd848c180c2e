"""A mergeable quantile sketch (DDSketch-style logarithmic buckets).

A value ``x > 0`` falls in bucket ``ceil(log(x) / log(gamma))`` with ``gamma = (1 + a) / (1 - a)``,
so every quantile is answered within relative error ``a`` (1 %). Buckets only count, so merging
two sketches is adding their counts: the sketch of hour A merged with hour B is *exactly* the
sketch of their union. That is what lets rollups keep per-hour latency percentiles, build days
from hours, and let ``ccp agg`` combine database files without keeping every sample.

Counts are kept dense (a list starting at bucket ``offset``): latencies span a few hundred
buckets, and a list decodes straight from JSON and merges with C-speed element-wise adds, which
keeps a 30-day hourly series cheap to serve.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate

import orjson

RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
# Values this small (ms) are counted as zero: below any latency we can measure.
_MIN_VALUE = 1e-6
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def _bucket_value(index: int) -> float:
    # The bucket's midpoint in relative terms: within ``a`` of every value that falls in it.
    return 2 * _GAMMA**index / (_GAMMA + 1)


@dataclass(slots=True)
class Sketch:
    """``counts[i]`` values fell in bucket ``offset + i``; ``zeros`` were (about) zero.

    Canonical: the first and last counts are never 0, so equal data give equal sketches.
    """

    offset: int = 0
    counts: list[int] = field(default_factory=list)
    zeros: int = 0

    @property
    def count(self) -> int:
        return self.zeros + sum(self.counts)

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            return
        if value <= _MIN_VALUE:
            self.zeros += 1
            return
        index = math.ceil(math.log(value) / _LOG_GAMMA)
        self._grow(index, index)
        self.counts[index - self.offset] += 1

    def _grow(self, low: int, high: int) -> None:
        """Make room for buckets ``low..high``."""
        if not self.counts:
            self.offset, self.counts = low, [0] * (high - low + 1)
            return
        if low < self.offset:
            self.counts[:0] = [0] * (self.offset - low)
            self.offset = low
        end = self.offset + len(self.counts) - 1
        if high > end:
            self.counts.extend([0] * (high - end))

    def merge(self, other: Sketch) -> None:
        self.zeros += other.zeros
        if not other.counts:
            return
        self._grow(other.offset, other.offset + len(other.counts) - 1)
        start = other.offset - self.offset
        stop = start + len(other.counts)
        self.counts[start:stop] = map(operator.add, self.counts[start:stop], other.counts)

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """The values at quantiles ``qs`` (0..1), each within 1 % relative error.

        Nearest rank: the smallest value with at least ``ceil(q * n)`` values at or below it,
        so the p99 of 10 samples is the largest, not the 9th (a small window's tail shows).
        """
        total = self.count
        if total == 0:
            return [None for _ in qs]
        # cumulative[i]: values in the zeros and the buckets before counts[i].
        cumulative = list(accumulate(self.counts, initial=self.zeros))
        answers: list[float | None] = []
        for q in qs:
            rank = nearest_rank(q, total)
            if rank <= self.zeros:
                answers.append(0.0)
                continue
            position = bisect_left(cumulative, rank)
            answers.append(_bucket_value(self.offset + position - 1))
        return answers

    def quantile(self, q: float) -> float | None:
        return self.quantiles((q,))[0]

    def to_json(self) -> str:
        """Compact and stable: ``{"z": zeros, "o": offset, "c": [counts]}``."""
        return orjson.dumps({"z": self.zeros, "o": self.offset, "c": self.counts}).decode()

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Sketch:
        if not text:
            return cls()
        data = orjson.loads(text)
        return cls(offset=int(data["o"]), counts=data["c"], zeros=int(data["z"]))

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Sketch:
        sketch = cls()
        for value in values:
            if value is not None:
                sketch.add(value)
        return sketch


def nearest_rank(q: float, n: int) -> int:
    """The 1-based rank of quantile ``q`` among ``n`` values: ``ceil(q * n)``, at least 1."""
    # Rounded first: 0.9 * 10 is 9.000000000000002 in floating point, whose ceiling is 10.
    return min(n, max(1, math.ceil(round(q * n, 9))))


def merged(sketches: Iterable[Sketch]) -> Sketch:
    total = Sketch()
    for sketch in sketches:
        total.merge(sketch)
    return total


def percentiles(sketch: Sketch) -> dict[str, float | None]:
    return dict(zip(QUANTILES, sketch.quantiles(QUANTILES.values()), strict=True))
