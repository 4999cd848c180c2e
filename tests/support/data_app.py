"""proxy-data's app in-process for API tests, with rollups run on demand (no background threads)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.testclient import TestClient

from ccp_data import rollups
from ccp_data.app import create_app
from ccp_data.pricing import load_price_table
from ccp_shared.store import connect
from tests.support.usage import config_for


def roll_up(db_path: Path) -> None:
    conn = connect(db_path)
    try:
        while rollups.run_once(conn, load_price_table()):
            pass
    finally:
        conn.close()


@contextmanager
def data_client(data_dir: Path) -> Iterator[TestClient]:
    app = create_app(config_for(data_dir), background=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
