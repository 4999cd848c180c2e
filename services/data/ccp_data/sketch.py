"""A mergeable quantile sketch (DDSketch-style logarithmic buckets).

A value ``x > 0`` falls in bucket ``ceil(log(x) / log(gamma))`` with ``gamma = (1 + a) / (1 - a)``,
so every quantile is answered within relative error ``a`` (1 %). Buckets only count, so merging
two sketches is adding their counts: the sketch of hour A merged with hour B is *exactly* the
sketch of their union. That is what lets rollups keep per-hour latency percentiles, build days
from hours, and let ``ccp agg`` combine database files without keeping every sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
# Values this small (ms) are counted as zero: below any latency we can measure.
_MIN_VALUE = 1e-6


@dataclass(slots=True)
class Sketch:
    buckets: dict[int, int] = field(default_factory=dict)
    zeros: int = 0

    @property
    def count(self) -> int:
        return self.zeros + sum(self.buckets.values())

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            return
        if value <= _MIN_VALUE:
            self.zeros += 1
            return
        index = math.ceil(math.log(value) / _LOG_GAMMA)
        self.buckets[index] = self.buckets.get(index, 0) + 1

    def merge(self, other: Sketch) -> None:
        self.zeros += other.zeros
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` (0..1) within 1 % relative error; None when empty."""
        total = self.count
        if total == 0:
            return None
        rank = q * (total - 1)
        seen = self.zeros
        if rank < seen:
            return 0.0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if rank < seen:
                # The bucket's midpoint in relative terms: within ``a`` of every value in it.
                return 2 * _GAMMA**index / (_GAMMA + 1)
        return 2 * _GAMMA ** max(self.buckets) / (_GAMMA + 1)

    def to_json(self) -> str:
        """Compact and stable: ``{"z": zeros, "b": [[index, count], ...]}`` sorted by index."""
        return orjson.dumps({"z": self.zeros, "b": sorted(self.buckets.items())}).decode()

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Sketch:
        if not text:
            return cls()
        data = orjson.loads(text)
        return cls(buckets={int(i): int(c) for i, c in data["b"]}, zeros=int(data["z"]))

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Sketch:
        sketch = cls()
        for value in values:
            if value is not None:
                sketch.add(value)
        return sketch


def merged(sketches: Iterable[Sketch]) -> Sketch:
    total = Sketch()
    for sketch in sketches:
        total.merge(sketch)
    return total


def percentiles(sketch: Sketch) -> dict[str, float | None]:
    return {
        "p50": sketch.quantile(0.5),
        "p90": sketch.quantile(0.9),
        "p99": sketch.quantile(0.99),
    }
