"""The stored all-model series points: always equal to the points computed from the rollups."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from ccp_data.pricing import PriceTable
from ccp_data.queries import stats
from ccp_data.rollups import DAY, HOUR, apply_retention, run_once
from ccp_data.series import point, read_points
from ccp_data.window import Window
from tests.support.usage import usage_record, write

NOW = 1_767_225_600.0 + 10 * DAY + 12 * HOUR
MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "mystery")


def roll(conn: sqlite3.Connection, pricing: PriceTable, batch_size: int) -> None:
    while run_once(conn, pricing, batch_size=batch_size, now=NOW):
        pass


def from_rollups(conn: sqlite3.Connection, granularity: str) -> dict[int, str]:
    """Each window's point recomputed from its per-model rows."""
    windows: dict[int, Window] = {}
    for row in conn.execute("SELECT * FROM rollups WHERE granularity = ?", (granularity,)):
        windows.setdefault(row["window_start"], Window()).merge(Window.from_row(row))
    return {ts: point(ts, w) for ts, w in windows.items()}


def stored(conn: sqlite3.Connection, granularity: str) -> dict[int, str]:
    return {
        ts: orjson.dumps(fragment).decode()
        for ts, fragment in read_points(conn, granularity, 0, 2**40).items()
    }


@pytest.mark.parametrize("batch_size", [1, 4, 1000])
def test_points_equal_the_merge_of_every_model_whatever_the_batches(
    data_dir: Path, conn: sqlite3.Connection, pricing: PriceTable, batch_size: int
) -> None:
    records = [
        usage_record(
            NOW - 5 * HOUR + i * 251,
            model=MODELS[i % 3],
            provider="zai" if i % 5 == 0 else "anthropic",
            ttft_ms=50.0 + i,
            duration_ms=900.0 + 7 * i,
        )
        for i in range(60)
    ]
    write(data_dir / "ccp.db", records[:30])
    roll(conn, pricing, batch_size)
    write(data_dir / "ccp.db", [*records[30:], usage_record(NOW - 40 * HOUR)])  # a late arrival
    roll(conn, pricing, batch_size)
    for granularity in ("hour", "day"):
        expected = from_rollups(conn, granularity)
        assert len(expected) > 1
        assert stored(conn, granularity) == expected


def test_the_series_serves_the_same_points_as_a_filter_that_keeps_everything(
    data_dir: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    write(data_dir / "ccp.db", [usage_record(NOW - h * HOUR, model="m") for h in range(1, 9)])
    roll(conn, pricing, 3)
    start, end = int(NOW - 10 * HOUR), int(NOW)
    served = orjson.loads(orjson.dumps(stats.series(conn, "hour", start, end)))
    filtered = stats.series(conn, "hour", start, end, model="m")
    assert served == filtered
    assert sum(p["requests"] for p in served["series"]) == 8


def test_retention_deletes_old_hour_points_and_keeps_days(
    data_dir: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    write(data_dir / "ccp.db", [usage_record(NOW - 2 * HOUR), usage_record(NOW - 3 * DAY)])
    roll(conn, pricing, 10)
    assert len(stored(conn, "hour")) == 2
    apply_retention(conn, 1, now=NOW)
    assert list(stored(conn, "hour")) == [int(NOW - 2 * HOUR) // HOUR * HOUR]
    assert len(stored(conn, "day")) == 2
