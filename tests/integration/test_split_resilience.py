"""Each service carries on while the other is down, and both share the database without locking."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from ccp_shared.migrate import alembic_config, head_revision
from tests.integration.stack import BIN, REPO, Ports, Stack, stack_env
from tests.support.fake_upstream import FakeUpstream
from tests.support.polling import wait_until
from tests.support.recorded_ids import ids_in

pytestmark = pytest.mark.integration

HEADERS = {"x-api-key": "sk-ant-test-0000", "anthropic-version": "2023-06-01"}
LOCK_TROUBLE = re.compile(r"database is locked|database table is locked|Traceback", re.IGNORECASE)


def message_body(text: str, *, stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def proxy(client: httpx.Client, text: str, *, stream: bool = True) -> str:
    """One request through the front, read to the end; its ccp-request-id."""
    with client.stream("POST", "/v1/messages", json=message_body(text, stream=stream)) as reply:
        body = reply.read()
        assert reply.status_code == 200, body[:500]
    if stream:
        assert b"message_stop" in body
    return reply.headers["ccp-request-id"]


def listed_ids(client: httpx.Client) -> set[str]:
    page = client.get("/api/requests", params={"limit": 200}).json()
    return {item["id"] for item in page["requests"]}


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(events=5, record=False) as fake:
        yield fake


@pytest.fixture
def stack(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Stack]:
    with Stack(tmp_path / "data", upstream.url) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.front_url, headers=HEADERS, timeout=30) as http:
        yield http


def test_core_keeps_proxying_while_data_is_stopped(stack: Stack, client: httpx.Client) -> None:
    stack.data.stop()

    ids = {proxy(client, f"while data is down {i}", stream=i % 2 == 0) for i in range(20)}

    assert len(ids) == 20
    stack.data.start().wait_healthy()
    wait_until(lambda: ids <= listed_ids(client), 5, "requests made while data was down")


def test_data_serves_its_apis_while_core_is_stopped(stack: Stack, client: httpx.Client) -> None:
    ids = {proxy(client, f"before core stops {i}") for i in range(3)}
    wait_until(lambda: ids <= listed_ids(client), 5, "the requests in /api/requests")
    stack.core.stop()

    for path in ("/api/requests", "/api/stats", "/api/conversations", "/v1/usage", "/api/health"):
        reply = client.get(path)
        assert reply.status_code == 200, (path, reply.text)
    assert ids <= listed_ids(client)


def test_probes_are_answered_with_both_services_stopped(stack: Stack, client: httpx.Client) -> None:
    stack.core.stop()
    stack.data.stop()

    assert client.head("/").status_code == 200
    assert client.post("/api/event_logging/batch", json={"events": []}).status_code == 204


def test_an_unreachable_service_is_a_json_error_whatever_the_path(
    stack: Stack, client: httpx.Client
) -> None:
    stack.data.stop()

    # Caddy holds the request for its lb_try_duration (10 s) before giving up with a 502.
    reply = client.get("/api/requests/a%22b%5Cc", timeout=60)

    assert reply.status_code == 502
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()  # a quote or backslash of the path must not break the JSON
    assert body["type"] == "error"
    assert body["error"]["type"] == "api_error"
    assert "not reachable" in body["error"]["message"]


def test_a_hundred_requests_while_the_indexer_works_lock_nothing(
    stack: Stack, client: httpx.Client
) -> None:
    def one(i: int) -> str:
        return proxy(client, f"concurrent request number {i} about indexing", stream=i % 3 != 0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(one, range(100)))

    assert len(ids) == 100
    wait_until(lambda: ids <= set(ids_in(stack.db_path)), 5, "all 100 requests in the database")
    wait_until(lambda: ids <= listed_ids(client), 5, "all 100 requests in /api/requests")
    for service in (stack.core, stack.data):
        trouble = LOCK_TROUBLE.findall(service.log_text())
        assert not trouble, service.log_tail()


def make_database_behind(db_path: Path) -> None:
    """Migrate to the revision before head; with a single revision, leave it at none."""
    config = alembic_config(db_path)
    previous = ScriptDirectory.from_config(config).get_revision(head_revision()).down_revision
    if isinstance(previous, str):
        command.upgrade(config, previous)
    else:
        with sqlite3.connect(db_path) as conn:
            conn.execute("CREATE TABLE unrelated (x INTEGER)")


@pytest.mark.parametrize("program", ["proxy-data", "proxy-core"])
def test_services_refuse_a_database_whose_schema_is_behind(tmp_path: Path, program: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_database_behind(data_dir / "ccp.db")
    env = stack_env(data_dir, Ports.free(), None)

    result = subprocess.run(
        [str(BIN / program)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "ccp db upgrade" in result.stdout + result.stderr
