from __future__ import annotations

from pathlib import Path

import orjson

from ccp_core.lite import JsonlSink, day_file_name
from ccp_core.recorder import open_recorder
from ccp_core.spool import decode_line
from ccp_shared.config import load_config
from ccp_shared.records import RequestRecord

API_KEY = "sk-ant-api03-LITE-MODE-RAW-KEY-abcdefghijklmnop-4321"
DEC_1_2026 = 1_796_083_200.0  # 2026-12-01T00:00:00Z


def record(n: int, ts_start: float) -> RequestRecord:
    return RequestRecord(
        id=f"lite-{n}",
        ts_start=ts_start,
        status="ok",
        request_headers={"authorization": f"Bearer {API_KEY}"},
        request_body=b'{"model": "claude-haiku-4-5"}',
    )


def test_day_file_name_is_the_utc_day_of_ts_start() -> None:
    assert day_file_name(DEC_1_2026) == "2026-12-01.jsonl"
    assert day_file_name(DEC_1_2026 - 1) == "2026-11-30.jsonl"
    assert day_file_name("nonsense").endswith(".jsonl")  # today's file, not a crash


def test_lite_mode_writes_masked_jsonl_per_day_and_opens_no_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = load_config(flags={"data_dir": str(data_dir), "storage.persist": False}, environ={})
    recorder = open_recorder(config)
    recorder.start()
    recorder.submit(record(1, DEC_1_2026 - 10))
    recorder.submit(record(2, DEC_1_2026 + 10))
    recorder.submit(record(3, DEC_1_2026 + 20))
    recorder.stop()

    assert recorder.database_ok()
    assert recorder.stats()["written"] == 3
    assert not config.db_path.exists()
    assert not (data_dir / "spool").exists()
    days = sorted(p.name for p in (data_dir / "records").iterdir())
    assert days == ["2026-11-30.jsonl", "2026-12-01.jsonl"]
    lines = (data_dir / "records" / "2026-12-01.jsonl").read_bytes().splitlines()
    records = [decode_line(line) for line in lines]
    assert [r.id for r in records] == ["lite-2", "lite-3"]
    assert records[0].request_headers == {"authorization": "Bearer …4321"}
    assert records[0].key_hash and len(records[0].key_hash) == 32
    assert records[0].request_body == '{"model": "claude-haiku-4-5"}'
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes()


def test_lines_have_the_spool_shape(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path)
    sink.open()
    sink.write([record(1, DEC_1_2026)])
    (line,) = (tmp_path / "2026-12-01.jsonl").read_bytes().splitlines()
    assert orjson.loads(line) == orjson.loads(record(1, DEC_1_2026).to_json())


def test_records_the_disk_refuses_are_held_and_written_later(tmp_path: Path) -> None:
    blocked = tmp_path / "records"
    blocked.write_text("a file where the directory should be")
    sink = JsonlSink(blocked)
    sink.write([record(1, DEC_1_2026), record(2, DEC_1_2026)])
    assert sink.held == 2 and sink.write_errors == 1 and sink.written == 0
    blocked.unlink()
    sink.tick()
    assert sink.held == 0 and sink.written == 2
    assert len((blocked / "2026-12-01.jsonl").read_bytes().splitlines()) == 2
