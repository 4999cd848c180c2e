"""/api/requests, /api/requests/summary and /api/requests/{id} on the real app and database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from ccp_data.app import create_app
from ccp_data.pagination import encode_cursor
from ccp_shared.bodies import Keyframes
from ccp_shared.config import load_config
from ccp_shared.records import STATUS_UPSTREAM_ERROR
from ccp_shared.store import connect, write_batch
from tests.support.recorded import load_capture, record, streamed_reply

SESSION = "a7fef5e5-c038-416e-a21a-9d947304b249"
T0 = 1_800_000_000.0
REPLY = [
    {"type": "thinking", "thinking": "plan"},
    {"type": "text", "text": "I will run a command."},
    {"type": "tool_use", "id": "toolu_fake_1", "name": "Bash", "input": {"command": "ls"}},
]


@pytest.fixture
def client(data_dir: Path, fixtures_dir: Path) -> Iterator[TestClient]:
    first, second = load_capture(fixtures_dir, "tool_session")
    title = {
        "model": "claude-haiku-4-5",
        "system": "Generate a concise, sentence-case title",
        "messages": [{"role": "user", "content": "x"}],
    }
    records = [
        record(
            first["body"],
            ts=T0,
            session_id=SESSION,
            response=streamed_reply(REPLY),
            request_id="req_a",
        ),
        record(title, ts=T0 + 1, session_id=SESSION, request_id="req_b"),
        record(
            second["body"],
            ts=T0 + 10,
            session_id=SESSION,
            request_id="req_c",
            status=STATUS_UPSTREAM_ERROR,
            response='{"type":"error","error":{"type":"x"}}',
        ),
        record("not json", ts=T0 + 20, request_id="req_d", response="<html>oops</html>"),
    ]
    records[1].model = "claude-haiku-4-5"
    records[3].model = "mystery-model"
    conn = connect(data_dir / "ccp.db")
    # As proxy-core writes them: req_c is stored as its difference from req_a (same session).
    keyframes = Keyframes()
    write_batch(conn, records[:1], keyframes)
    write_batch(conn, records[1:], keyframes)
    conn.close()
    config = load_config(flags={"data_dir": str(data_dir)}, environ={})
    with TestClient(create_app(config, background=False)) as test_client:
        test_client.app.state.indexer.run_once()  # type: ignore[attr-defined]
        yield test_client


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["requests"]]


def test_list_is_newest_first_with_class_and_cost(client: TestClient) -> None:
    body = client.get("/api/requests").json()
    assert ids(body) == ["req_d", "req_c", "req_b", "req_a"]
    assert body["next_cursor"] is None
    first = body["requests"][-1]
    assert first["class"] == "main"
    assert first["conversation_id"] == 1
    assert first["stream"] is True
    assert "request_body" not in first
    assert body["requests"][0]["cost_usd"] is None
    assert body["requests"][0]["cost_known"] is False


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("class=title", ["req_b"]),
        ("class=main", ["req_c", "req_a"]),
        ("class=other", ["req_d"]),
        ("status=upstream_error", ["req_c"]),
        ("model=claude-haiku-4-5", ["req_b"]),
        (f"session={SESSION}", ["req_c", "req_b", "req_a"]),
        (f"since={T0 + 1}&until={T0 + 20}", ["req_c", "req_b"]),
        ("since=2027-01-15T08:00:01Z", ["req_d", "req_c", "req_b"]),
        (f"class=main&since={T0 + 5}", ["req_c"]),
        ("class=main&model=claude-haiku-4-5", []),
    ],
)
def test_filters(client: TestClient, query: str, expected: list[str]) -> None:
    response = client.get(f"/api/requests?{query}")
    assert response.status_code == 200, response.text
    assert ids(response.json()) == expected


@pytest.mark.parametrize("extra", ["", "&class=main", "&session=" + SESSION])
def test_cursor_pages_cover_everything_once(client: TestClient, extra: str) -> None:
    everything = ids(client.get(f"/api/requests?limit=500{extra}").json())
    seen: list[str] = []
    url = f"/api/requests?limit=1{extra}"
    while True:
        body = client.get(url).json()
        seen.extend(ids(body))
        if body["next_cursor"] is None:
            break
        url = f"/api/requests?limit=1{extra}&cursor={body['next_cursor']}"
    assert seen == everything


def test_summary_counts_by_status_class_model(client: TestClient) -> None:
    body = client.get(f"/api/requests/summary?session={SESSION}&since=0").json()
    assert body["total"] == 3
    assert body["by_status"] == {"ok": 2, "upstream_error": 1}
    assert body["by_class"] == {"main": 2, "title": 1}
    assert body["by_model"] == {"claude-opus-5-5": 2, "claude-haiku-4-5": 1}
    assert body["since"] == 0.0


def test_summary_defaults_to_the_last_day(client: TestClient) -> None:
    body = client.get("/api/requests/summary").json()
    assert abs(body["since"] - (time.time() - 86400)) < 60
    assert body["until"] is None
    assert body["total"] == 4  # the fixture's requests are dated after that


def test_detail_has_bodies_headers_and_the_assembled_response(client: TestClient) -> None:
    body = client.get("/api/requests/req_a").json()
    assert body["request_body"]["model"] == "claude-opus-5-5"
    assert body["request_headers"] == {"x-api-key": "…0000"}
    assert [b["type"] for b in body["response"]["content"]] == ["thinking", "text", "tool_use"]
    assert body["response"]["content"][2]["input"] == {"command": "ls"}
    assert body["response_body_raw"] is None
    assert body["timings"]["duration_ms"] == 1500.0
    assert body["tokens"]["output_tokens"] == 42
    assert body["class"] == "main"
    assert "cost_usd" in body


def test_detail_of_a_body_stored_as_a_difference_is_the_body_sent(
    client: TestClient, data_dir: Path, fixtures_dir: Path
) -> None:
    conn = connect(data_dir / "ccp.db", readonly=True)
    base, middle = conn.execute(
        "SELECT request_body_base, length(request_body) FROM request_bodies "
        "WHERE request_id = 'req_c'"
    ).fetchone()
    conn.close()
    _, second = load_capture(fixtures_dir, "tool_session")
    assert base == "req_a" and middle < len(orjson.dumps(second["body"])) / 4
    body = client.get("/api/requests/req_c").json()
    assert body["request_body"] == second["body"]
    assert body["request_body_raw"] is None


def test_detail_of_unreadable_bodies_shows_them_raw(client: TestClient) -> None:
    body = client.get("/api/requests/req_d").json()
    assert body["request_body"] is None
    assert body["request_body_raw"] == "not json"
    assert body["response"] is None
    assert body["response_body_raw"] == "<html>oops</html>"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/requests/nope", 404),
        ("/api/requests/" + "x" * 300, 400),
        ("/api/requests?limit=0", 400),
        ("/api/requests?limit=501", 400),
        ("/api/requests?limit=ten", 400),
        ("/api/requests?cursor=garbage!", 400),
        ("/api/requests?cursor=WzFd", 400),
        ("/api/requests?cursor=" + encode_cursor([1.0, 2**63 + 5]), 400),  # beyond SQLite's int
        ("/api/requests?since=" + "9" * 400 + "w", 400),  # a span of inf seconds
        ("/api/requests?since=yesterday-ish", 400),
        ("/api/requests?until=-5", 400),
        ("/api/requests?class=bogus", 400),
        ("/api/requests?status=fine", 400),
        ("/api/requests/summary?since=nope", 400),
    ],
)
def test_bad_input_is_a_4xx_in_the_error_envelope(
    client: TestClient, url: str, status: int
) -> None:
    response = client.get(url)
    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] in {"invalid_request_error", "not_found_error"}
    assert body["error"]["message"]
