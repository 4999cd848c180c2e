"""Fixtures the proxy-data unit tests share: the migrated database and the built-in prices."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccp_data.pricing import PriceTable, load_price_table
from ccp_shared.store import connect


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """A writable connection to the test DATA_DIR's database, rows addressable by column name."""
    connection = connect(data_dir / "ccp.db")
    connection.row_factory = sqlite3.Row
    yield connection
    connection.close()


@pytest.fixture
def pricing() -> PriceTable:
    return load_price_table()
