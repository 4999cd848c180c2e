from __future__ import annotations

from pathlib import Path

from ccp_data.wal import checkpoint, wal_size
from ccp_shared.store import connect, write_batch
from tests.support.usage import usage_record


def grow_wal(db: Path, records: int) -> None:
    conn = connect(db)
    conn.execute("PRAGMA wal_autocheckpoint=0")  # let the WAL grow as a busy writer's would
    write_batch(conn, [usage_record(1.0 + i, request_body=b"x" * 2000) for i in range(records)])
    conn.close()


def test_a_small_wal_gets_a_passive_checkpoint_only(data_dir: Path) -> None:
    db = data_dir / "ccp.db"
    reader = connect(db)
    grow_wal(db, 50)
    result = checkpoint(reader, db, truncate_above=10 * 1024 * 1024)
    assert result.mode == "PASSIVE"
    assert result.wal_bytes == wal_size(db) > 0
    reader.close()


def test_a_large_wal_is_truncated(data_dir: Path) -> None:
    db = data_dir / "ccp.db"
    conn = connect(db)
    grow_wal(db, 600)
    assert wal_size(db) > 1024 * 1024
    result = checkpoint(conn, db, truncate_above=1024 * 1024)
    assert result.mode == "TRUNCATE" and not result.busy
    assert result.wal_bytes == 0
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2000  # restored after
    conn.close()
