"""Request records with usage figures, and a config pointing at a test DATA_DIR (data tests)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from ccp_shared.config import Config, load_config
from ccp_shared.records import STATUS_OK, RequestRecord
from ccp_shared.store import connect, write_batch

_ids = itertools.count(1)


def usage_record(ts: float, **fields: Any) -> RequestRecord:
    """A finished /v1/messages record at ``ts`` with plausible usage; ``fields`` override."""
    values: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "provider": "anthropic",
        "status": STATUS_OK,
        "http_status": 200,
        "stream": True,
        "input_tokens": 100,
        "output_tokens": 50,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "ttft_ms": 400.0,
        "duration_ms": 2400.0,
        "ts_end": ts + 2.4,
    }
    values.update(fields)
    return RequestRecord(id=f"req_{next(_ids):08d}", ts_start=ts, **values)


def write(db_path: Path, records: list[RequestRecord]) -> None:
    conn = connect(db_path)
    try:
        write_batch(conn, records)
    finally:
        conn.close()


def config_for(data_dir: Path, **flags: Any) -> Config:
    """The configuration of a test: defaults, this DATA_DIR, no environment or config file."""
    return load_config(flags={"data_dir": str(data_dir), **flags}, environ={})
