"""Keeping the WAL small: passive checkpoints often, a truncating one when the file has grown.

Every writer's commit already checkpoints passively now and then, but the WAL file itself only
shrinks on a TRUNCATE checkpoint, which must wait for readers and briefly blocks writers. So we run
PASSIVE ones regularly (they never block anyone) and TRUNCATE only when the WAL is past a limit,
with a short busy timeout so proxy-core's writer is never held up for long.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

TRUNCATE_ABOVE_BYTES = 16 * 1024 * 1024
# How long a TRUNCATE checkpoint may wait for readers/writers before giving up until next time.
TRUNCATE_BUSY_MS = 100


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    mode: str
    busy: bool
    wal_bytes: int


def wal_size(db_path: Path) -> int:
    try:
        return Path(f"{db_path}-wal").stat().st_size
    except FileNotFoundError:
        return 0


def checkpoint(
    conn: sqlite3.Connection,
    db_path: Path,
    *,
    truncate_above: int = TRUNCATE_ABOVE_BYTES,
    busy_timeout_ms: int = 2000,
) -> CheckpointResult:
    """A PASSIVE checkpoint, then a TRUNCATE one if the WAL file is over ``truncate_above``."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    mode = "PASSIVE"
    if wal_size(db_path) > truncate_above:
        conn.execute(f"PRAGMA busy_timeout={TRUNCATE_BUSY_MS}")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        mode = "TRUNCATE"
    return CheckpointResult(mode=mode, busy=bool(busy), wal_bytes=wal_size(db_path))
