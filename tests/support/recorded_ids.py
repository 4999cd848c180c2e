"""Which requests reached the database, read the way an outside observer would (read-only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def ids_in(db: Path) -> list[str]:
    """Every request id in the database, duplicates included (there must be none)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM requests ORDER BY id")]
    finally:
        conn.close()
