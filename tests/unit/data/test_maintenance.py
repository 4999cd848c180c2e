from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ccp_data.maintenance import Maintenance
from ccp_data.pricing import load_price_table
from ccp_shared.store import connect
from tests.support.polling import wait_until
from tests.support.usage import config_for, usage_record, write


def rolled_up(db: Path) -> int:
    conn = connect(db, readonly=True)
    try:
        row = conn.execute("SELECT sum(requests) FROM rollups WHERE granularity = 'day'")
        return int(row.fetchone()[0] or 0)
    finally:
        conn.close()


def test_the_thread_rolls_up_new_requests(data_dir: Path) -> None:
    # Eventual behaviour of the thread; the 1-2 s freshness target is measured end to end by
    # tests/integration/test_data_freshness.py, so a busy CI machine gets a generous deadline.
    db = data_dir / "ccp.db"
    worker = Maintenance(config_for(data_dir), load_price_table())
    worker.start()
    try:
        write(db, [usage_record(time.time()), usage_record(time.time())])
        wait_until(lambda: rolled_up(db) == 2, 10.0, "the rollup of two requests")
        status = worker.status()
        assert status["status"] == "running" and status["error"] is None
        wait_until(lambda: worker.status()["watermark"] == 2, 10.0, "the watermark in status")
    finally:
        worker.stop()
    assert worker.status()["status"] == "stopped"


def test_a_broken_database_is_reported_not_hidden(data_dir: Path) -> None:
    db = data_dir / "ccp.db"
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE rollups")
    conn.close()
    write(db, [usage_record(time.time())])
    worker = Maintenance(config_for(data_dir), load_price_table())
    worker.start()
    try:
        wait_until(lambda: worker.status()["error"], 10.0, "the error in status")
        assert "rollups" in worker.status()["error"]
    finally:
        worker.stop()
