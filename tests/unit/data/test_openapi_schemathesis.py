"""The running app against its own OpenAPI description: no input the description allows gives 5xx.

Schemathesis generates parameters from /api/openapi.json (valid and invalid ones) for every
operation and checks each answer: never a server error, and errors in the one envelope.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.openapi import from_dict
from starlette.applications import Starlette
from starlette.testclient import TestClient

from ccp_data.app import create_app
from ccp_data.indexer import Indexer
from ccp_data.openapi import SCHEMA
from ccp_shared.migrate import upgrade
from tests.support.data_app import roll_up
from tests.support.recorded import load_capture
from tests.support.usage import config_for, usage_record, write


@pytest.fixture(scope="module")
def data_app(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Starlette:
    data_dir = tmp_path_factory.mktemp("schemathesis") / "data"
    upgrade(data_dir / "ccp.db")
    body = load_capture(fixtures_dir, "first_turn")
    now = time.time()
    write(
        data_dir / "ccp.db",
        [
            usage_record(now - 60 * i, session_id="s-1", request_body=str(body).encode())
            for i in range(5)
        ],
    )
    config = config_for(data_dir)
    Indexer(config).run_once()
    roll_up(data_dir / "ccp.db")
    return create_app(config, background=False)


schema = from_dict(SCHEMA)


def test_the_app_serves_this_description(data_app: Starlette) -> None:
    with TestClient(data_app) as client:
        assert client.get("/api/openapi.json").json() == SCHEMA


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors(data_app: Starlette, case: schemathesis.Case) -> None:
    response = case.call(app=data_app)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}
