from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ccp_data import rollups
from ccp_data.pricing import PriceTable
from ccp_data.rollups import (
    DAY,
    HOUR,
    apply_retention,
    read_watermark,
    rebuild,
    run_once,
)
from ccp_data.sketch import Sketch
from ccp_data.window import Window
from ccp_shared.records import STATUS_CLIENT_CLOSED, STATUS_UPSTREAM_ERROR, RequestRecord
from tests.support.usage import usage_record, write

NOW = 1_767_225_600.0 + 10 * DAY + 12 * HOUR  # 2026-01-11T12:00:00Z
HOUR_A = NOW - 3 * HOUR


@pytest.fixture
def db(data_dir: Path) -> Path:
    return data_dir / "ccp.db"


def rows(conn: sqlite3.Connection, granularity: str) -> list[dict[str, object]]:
    cursor = conn.execute(
        "SELECT * FROM rollups WHERE granularity = ? ORDER BY window_start, model, provider",
        (granularity,),
    )
    return [{k: r[k] for k in r.keys() if k != "updated_at"} for r in cursor]


def roll(conn: sqlite3.Connection, pricing: PriceTable, batch_size: int = 5000) -> int:
    total = 0
    while done := run_once(conn, pricing, batch_size=batch_size, now=NOW):
        total += done
    return total


def test_hour_and_day_rows_sum_usage_cost_and_outcomes(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    write(
        db,
        [
            usage_record(HOUR_A + 10, input_tokens=1000, output_tokens=500),
            usage_record(
                HOUR_A + 20, cache_read_input_tokens=3000, cache_creation_input_tokens=400
            ),
            usage_record(HOUR_A + 30, status=STATUS_UPSTREAM_ERROR, output_tokens=0),
            usage_record(HOUR_A + 40, status=STATUS_CLIENT_CLOSED),
        ],
    )
    assert roll(conn, pricing) == 4
    [hour] = rows(conn, "hour")
    assert hour["window_start"] == HOUR_A
    assert (hour["model"], hour["provider"]) == ("claude-sonnet-4-5", "anthropic")
    assert (hour["requests"], hour["errors"], hour["client_closed"]) == (4, 1, 1)
    assert hour["input_tokens"] == 1000 + 100 + 100 + 100
    assert hour["output_tokens"] == 500 + 50 + 0 + 50
    assert (hour["cache_read_tokens"], hour["cache_write_tokens"]) == (3000, 400)
    expected_usd = (1300 * 3.0 + 600 * 15.0 + 3000 * 0.3 + 400 * 3.75) / 1e6
    assert hour["cost_nanos"] == pytest.approx(expected_usd * 1e9, abs=4)
    assert hour["cost_unknown"] == 0
    [day] = rows(conn, "day")
    assert day["window_start"] == NOW - 12 * HOUR
    assert {k: v for k, v in day.items() if k not in ("granularity", "window_start")} == {
        k: v for k, v in hour.items() if k not in ("granularity", "window_start")
    }


def test_windows_are_split_by_hour_model_and_provider(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    write(
        db,
        [
            usage_record(HOUR_A + 1),
            usage_record(HOUR_A + HOUR + 1),
            usage_record(HOUR_A + 2, model="claude-haiku-4-5-20251001"),
            usage_record(HOUR_A + 3, provider="zai", model="glm-4.6"),
            usage_record(HOUR_A + 4, model=None, provider=None, input_tokens=None),
        ],
    )
    roll(conn, pricing)
    keys = [(r["window_start"], r["model"], r["provider"]) for r in rows(conn, "hour")]
    assert keys == [
        (HOUR_A, "", ""),
        (HOUR_A, "claude-haiku-4-5-20251001", "anthropic"),
        (HOUR_A, "claude-sonnet-4-5", "anthropic"),
        (HOUR_A, "glm-4.6", "zai"),
        (HOUR_A + HOUR, "claude-sonnet-4-5", "anthropic"),
    ]
    day = {r["model"]: r for r in rows(conn, "day")}
    assert day["claude-sonnet-4-5"]["requests"] == 2
    assert day["glm-4.6"]["cost_unknown"] == 1


def test_only_inference_is_rolled_up(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    write(
        db,
        [
            usage_record(HOUR_A, path="/v1/messages/count_tokens"),
            usage_record(HOUR_A, method="GET", path="/v1/models"),
        ],
    )
    assert roll(conn, pricing) == 2
    assert rows(conn, "hour") == []
    assert read_watermark(conn) == 2


def test_batch_by_batch_equals_a_rebuild_from_scratch_exactly(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    models = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "mystery"]
    records = [
        usage_record(
            HOUR_A + i * 97,
            model=models[i % 4],
            ttft_ms=100.0 + i * 3.3,
            duration_ms=1000.0 + 17.7 * i,
            input_tokens=i * 13,
            cache_read_input_tokens=i * 101,
            cache_creation_input_tokens=i * 7,
            cache_creation_1h_tokens=i * 3,
        )
        for i in range(120)
    ]
    for start in range(0, 120, 7):
        write(db, records[start : start + 7])
        roll(conn, pricing, batch_size=5)
    incremental = rows(conn, "hour"), rows(conn, "day")
    assert sum(int(str(r["requests"])) for r in incremental[1]) == 120

    assert rebuild(conn, pricing, retention_days=30, now=NOW) == 120
    assert (rows(conn, "hour"), rows(conn, "day")) == incremental  # equal, not just close
    assert run_once(conn, pricing, now=NOW) == 0  # nothing new: nothing changes
    assert (rows(conn, "hour"), rows(conn, "day")) == incremental


def test_a_pass_that_lost_the_race_writes_nothing(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(db, [usage_record(HOUR_A + i) for i in range(3)])
    roll(conn, pricing)
    before = rows(conn, "hour"), rows(conn, "day")
    real = rollups.read_watermark
    calls: list[int] = []

    def stale_then_real(c: sqlite3.Connection) -> int:
        # This pass starts from a stale watermark; another pass has already moved it.
        calls.append(1)
        return 0 if len(calls) == 1 else real(c)

    monkeypatch.setattr(rollups, "read_watermark", stale_then_real)
    assert rollups.run_once(conn, pricing, now=NOW) == 0
    assert len(calls) == 2  # it did read the batch and re-check inside the transaction
    assert (rows(conn, "hour"), rows(conn, "day")) == before


def test_late_request_for_an_old_hour_updates_that_hour_and_its_day(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    write(db, [usage_record(HOUR_A), usage_record(HOUR_A + HOUR)])
    roll(conn, pricing)
    write(db, [usage_record(HOUR_A + 5, output_tokens=7)])  # arrives after a later hour
    roll(conn, pricing)
    hours = {r["window_start"]: r for r in rows(conn, "hour")}
    assert hours[HOUR_A]["requests"] == 2 and hours[HOUR_A + HOUR]["requests"] == 1
    [day] = rows(conn, "day")
    assert day["requests"] == 3 and day["output_tokens"] == 107


def test_day_sketches_are_the_merge_of_their_hours(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    write(db, [usage_record(HOUR_A + h * HOUR, ttft_ms=50.0 * (h + 1)) for h in range(3)])
    roll(conn, pricing)
    hours = rows(conn, "hour")
    [day] = rows(conn, "day")
    merged = Sketch()
    for hour in hours:
        merged.merge(Sketch.from_json(str(hour["ttft_sketch"])))
    assert Sketch.from_json(str(day["ttft_sketch"])) == merged
    assert merged.count == 3


def test_summary_percentiles_tokens_per_second_and_hit_rate(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    write(
        db,
        [
            usage_record(
                HOUR_A + i,
                ttft_ms=float(100 * (i + 1)),
                duration_ms=float(100 * (i + 1)) + 1000.0,
                output_tokens=100,
                input_tokens=10,
                cache_read_input_tokens=80,
                cache_creation_input_tokens=10,
            )
            for i in range(10)
        ],
    )
    roll(conn, pricing)
    [hour] = conn.execute("SELECT * FROM rollups WHERE granularity = 'hour'").fetchall()
    summary = Window.from_row(hour).summary()
    assert summary["ttft_ms"]["p50"] == pytest.approx(500, rel=0.02)
    assert summary["ttft_ms"]["p90"] == pytest.approx(900, rel=0.02)  # nearest rank: 9th
    assert summary["output_tokens_per_second"] == pytest.approx(100.0)  # 100 tokens / 1 s each
    assert summary["cache_hit_rate"] == pytest.approx(0.8)
    assert summary["cost_known"] is True


def test_unknown_cost_is_counted_not_zeroed(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    write(db, [usage_record(HOUR_A, model="mystery-1"), usage_record(HOUR_A, model="mystery-1")])
    roll(conn, pricing)
    [hour] = conn.execute("SELECT * FROM rollups WHERE granularity = 'hour'").fetchall()
    summary = Window.from_row(hour).summary()
    assert summary["cost_usd"] is None
    assert summary["cost_known"] is False
    assert summary["cost_unknown_requests"] == 2


def test_a_free_error_does_not_make_an_unpriced_model_cost_zero(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    refused = usage_record(
        HOUR_A, model="glm-4.6", status=STATUS_UPSTREAM_ERROR, input_tokens=0, output_tokens=0
    )
    write(db, [usage_record(HOUR_A, model="glm-4.6"), refused])
    roll(conn, pricing)
    [hour] = conn.execute("SELECT * FROM rollups WHERE granularity = 'hour'").fetchall()
    summary = Window.from_row(hour).summary()
    assert summary["cost_usd"] is None
    assert (summary["cost_known"], summary["cost_unknown_requests"]) == (False, 1)


def test_partly_priced_windows_keep_the_known_sum(pricing: PriceTable) -> None:
    window = Window()
    window.add_request(_row(usage_record(HOUR_A, model="glm-4.6")), pricing)
    window.add_request(_row(usage_record(HOUR_A, model="claude-sonnet-4-5")), pricing)
    summary = window.summary()
    assert summary["cost_usd"] == pytest.approx((100 * 3 + 50 * 15) / 1e6)
    assert summary["cost_known"] is False


def _row(record: RequestRecord) -> dict[str, object]:
    return {
        "cache_creation_5m_tokens": None,
        "cache_creation_1h_tokens": None,
        **{name: getattr(record, name) for name in record.__dataclass_fields__},
    }


def test_retention_deletes_old_hours_in_batches_and_keeps_days(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    old = NOW - 40 * DAY
    write(db, [usage_record(old + h * HOUR, model=f"m{h % 3}") for h in range(30)])
    write(db, [usage_record(HOUR_A)])
    roll(conn, pricing)
    # Windows older than the retention are not even written as hours.
    assert {r["window_start"] for r in rows(conn, "hour")} == {HOUR_A}
    days_before = rows(conn, "day")
    assert sum(int(str(d["requests"])) for d in days_before) == 31

    conn.executemany(
        "INSERT INTO rollups SELECT 'hour', window_start - ?, model, provider, requests, errors, "
        "client_closed, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
        "cache_write_1h_tokens, cost_nanos, cost_unknown, gen_output_tokens, gen_ms, "
        "ttft_sketch, duration_sketch, updated_at FROM rollups "
        "WHERE granularity = 'hour' AND window_start = ?",
        [(k * HOUR + 31 * DAY, HOUR_A) for k in range(7)],
    )
    assert apply_retention(conn, 30, now=NOW, batch=2) == 7
    assert {r["window_start"] for r in rows(conn, "hour")} == {HOUR_A}
    assert rows(conn, "day") == days_before


def test_a_request_in_a_day_past_retention_recounts_that_day(
    db: Path, conn: sqlite3.Connection, pricing: PriceTable
) -> None:
    old_day = NOW - 40 * DAY - 12 * HOUR
    write(db, [usage_record(old_day + HOUR), usage_record(old_day + 5 * HOUR)])
    roll(conn, pricing)
    write(db, [usage_record(old_day + 9 * HOUR)])  # e.g. `ccp db import` of an old file
    roll(conn, pricing)
    [day] = rows(conn, "day")
    assert day["requests"] == 3
