"""/api/conversations, /api/conversations/{id} and /api/conversations/search on the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ccp_data.app import create_app
from ccp_data.pagination import encode_cursor
from ccp_shared.config import load_config
from ccp_shared.store import connect, write_batch
from tests.support.recorded import load_capture, record, streamed_reply

SESSION = "a7fef5e5-c038-416e-a21a-9d947304b249"
T0 = 1_800_000_000.0
TOOL_TURN = [
    {"type": "text", "text": "I will run a command."},
    {
        "type": "tool_use",
        "id": "toolu_fake_1",
        "name": "Bash",
        "input": {"command": "echo marker-from-tool-7f3a", "description": "Print a marker"},
    },
]
FINAL = [{"type": "text", "text": "Done: the deployment printed marker-from-tool-7f3a."}]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[TestClient]:
    from ccp_shared.migrate import upgrade

    data_dir = tmp_path_factory.mktemp("conversations") / "data"
    upgrade(data_dir / "ccp.db")
    first, second = load_capture(fixtures_dir, "tool_session")
    sub = {
        "model": "claude-haiku-4-5",
        "messages": [{"role": "user", "content": "grep deployment"}],
    }
    other = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "deployment?"}]}
    records = [
        record(first["body"], ts=T0, session_id=SESSION, response=streamed_reply(TOOL_TURN)),
        record(
            sub,
            ts=T0 + 5,
            session_id=SESSION,
            agent_id="agent-1",
            response=streamed_reply([{"type": "text", "text": "found deployment.yaml"}]),
        ),
        record(second["body"], ts=T0 + 10, session_id=SESSION, response=streamed_reply(FINAL)),
        record(other, ts=T0 + 100, session_id="other-session"),
    ]
    records[1].model = records[3].model = "claude-haiku-4-5"
    conn = connect(data_dir / "ccp.db")
    write_batch(conn, records)
    conn.close()
    config = load_config(flags={"data_dir": str(data_dir)}, environ={})
    with TestClient(create_app(config, background=False)) as test_client:
        test_client.app.state.indexer.run_once()  # type: ignore[attr-defined]
        yield test_client


def test_list_most_recent_first(client: TestClient) -> None:
    body = client.get("/api/conversations").json()
    summary = [(c["session_id"], c["agent_id"], c["kind"]) for c in body["conversations"]]
    assert summary == [
        ("other-session", "main", "main"),
        (SESSION, "main", "main"),
        (SESSION, "agent-1", "subagent"),
    ]
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"session={SESSION}", [("main", 5), ("agent-1", 2)]),
        ("kind=subagent", [("agent-1", 2)]),
        ("model=claude-haiku-4-5", [("main", 1), ("agent-1", 2)]),
        (f"since={T0 + 50}", [("main", 1)]),
        (f"until={T0 + 1}", [("main", 5)]),
    ],
)
def test_list_filters(client: TestClient, query: str, expected: list[tuple[str, int]]) -> None:
    body = client.get(f"/api/conversations?{query}").json()
    assert [(c["agent_id"], c["message_count"]) for c in body["conversations"]] == expected


def test_list_pages(client: TestClient) -> None:
    page = client.get("/api/conversations?limit=2").json()
    rest = client.get(f"/api/conversations?limit=2&cursor={page['next_cursor']}").json()
    assert len(page["conversations"]) == 2
    assert len(rest["conversations"]) == 1
    assert rest["next_cursor"] is None


def main_conversation(client: TestClient) -> dict[str, Any]:
    body = client.get(f"/api/conversations?session={SESSION}&kind=main").json()
    conversation: dict[str, Any] = body["conversations"][0]
    return conversation


def test_detail_has_messages_in_order_and_turns(client: TestClient) -> None:
    conversation = main_conversation(client)
    body = client.get(f"/api/conversations/{conversation['id']}").json()
    assert body["conversation"]["title"] == "run the marker command please"
    messages = body["messages"]
    assert [(m["position"], m["role"]) for m in messages] == [
        (0, "user"),
        (1, "system"),
        (2, "assistant"),
        (3, "user"),
        (4, "assistant"),
    ]
    assert messages[2]["content"][1]["input"]["command"] == "echo marker-from-tool-7f3a"
    turns = body["turns"]
    assert len(turns) == 2
    assert [t["response_message_id"] for t in turns] == [messages[2]["id"], messages[4]["id"]]
    assert [t["prompt_message_id"] for t in turns] == [messages[1]["id"], messages[3]["id"]]


def test_detail_pages_messages(client: TestClient) -> None:
    conversation_id = main_conversation(client)["id"]
    page = client.get(f"/api/conversations/{conversation_id}?limit=3").json()
    rest = client.get(
        f"/api/conversations/{conversation_id}?limit=3&cursor={page['next_cursor']}"
    ).json()
    assert [m["position"] for m in page["messages"] + rest["messages"]] == [0, 1, 2, 3, 4]
    assert rest["next_cursor"] is None


def test_search_ranks_and_highlights(client: TestClient) -> None:
    body = client.get("/api/conversations/search?q=deployment").json()
    results = body["results"]
    assert len(results) == 4
    assert all("<mark>deployment</mark>" in r["snippet"].lower() for r in results)
    assert [r["rank"] for r in results] == sorted(r["rank"] for r in results)
    for result in results:
        assert {"request_id", "conversation_id", "session_id", "ts", "role", "rank"} <= set(result)


@pytest.mark.parametrize(
    ("query", "sessions"),
    [
        (f"q=deployment&session={SESSION}", {SESSION}),
        ("q=deployment&session=other-session", {"other-session"}),
        ("q=deployment&model=claude-opus-5-5", {SESSION}),
        (f"q=deployment&since={T0 + 50}", {"other-session"}),
        (f"q=deployment&until={T0 + 50}", {SESSION}),
    ],
)
def test_search_filters(client: TestClient, query: str, sessions: set[str]) -> None:
    body = client.get(f"/api/conversations/search?{query}").json()
    assert body["results"]
    assert {r["session_id"] for r in body["results"]} == sessions


def test_search_pages(client: TestClient) -> None:
    page = client.get("/api/conversations/search?q=deployment&limit=3").json()
    rest = client.get(
        f"/api/conversations/search?q=deployment&limit=3&cursor={page['next_cursor']}"
    ).json()
    ids = [r["message_id"] for r in page["results"] + rest["results"]]
    assert len(ids) == len(set(ids)) == 4
    assert rest["next_cursor"] is None


def test_prefix_search_pages_carry_their_own_snippets(client: TestClient) -> None:
    # Each page's snippets come from one pass of the match over the page's rowid range.
    results, cursor = [], ""
    for _ in range(20):
        page = client.get(f"/api/conversations/search?q=deploy*&limit=1{cursor}").json()
        results += page["results"]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    everything = client.get("/api/conversations/search?q=deploy*").json()["results"]
    assert [r["message_id"] for r in results] == [r["message_id"] for r in everything]
    assert len(results) > 4  # "deployment" and more
    assert all("<mark>deploy" in r["snippet"].lower() for r in results)


def test_search_finds_tool_input_and_results(client: TestClient) -> None:
    body = client.get('/api/conversations/search?q="marker-from-tool-7f3a"').json()
    kinds = {r["kind"] for r in body["results"]}
    assert {"tool_use", "tool_result"} <= kinds


def test_snippets_are_escaped_html_with_marks(data_dir: Path) -> None:
    text = 'see <script>alert("pwned")</script> & the <b>deployment</b> log'
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": text}]}
    conn = connect(data_dir / "ccp.db")
    write_batch(conn, [record(body, ts=T0, session_id=SESSION)])
    conn.close()
    config = load_config(flags={"data_dir": str(data_dir)}, environ={})
    with TestClient(create_app(config, background=False)) as test_client:
        test_client.app.state.indexer.run_once()  # type: ignore[attr-defined]
        [result] = test_client.get("/api/conversations/search?q=deployment").json()["results"]
    assert result["snippet"] == (
        "see &lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; "
        "the &lt;b&gt;<mark>deployment</mark>&lt;/b&gt; log"
    )


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/conversations/abc", 400),
        ("/api/conversations/%C2%B2", 400),  # "²": isdigit() but not int()
        ("/api/conversations?cursor=" + encode_cursor([1.0, 2**63 + 5]), 400),
        ("/api/conversations/1?cursor=" + encode_cursor([2**63 + 5]), 400),
        ("/api/conversations/1?cursor=" + encode_cursor([-(2**63)]), 400),
        ("/api/conversations/-1", 400),
        ("/api/conversations/99999", 404),
        ("/api/conversations/1?cursor=zz", 400),
        ("/api/conversations?cursor=%%%", 400),
        ("/api/conversations?limit=0", 400),
        ("/api/conversations?kind=count_tokens", 400),
        ("/api/conversations?since=soon", 400),
        ("/api/conversations/search", 400),
        ("/api/conversations/search?q=", 400),
        ("/api/conversations/search?q=-only", 400),
        ("/api/conversations/search?q=x&limit=1000", 400),
        ("/api/conversations/search?q=x&cursor=WzEwMDAwMDAwXQ", 400),
        ("/api/conversations/search?q=x&since=nope", 400),
    ],
)
def test_bad_input_is_a_4xx_in_the_error_envelope(
    client: TestClient, url: str, status: int
) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    assert response.json()["type"] == "error"
    assert response.json()["error"]["message"]


NASTY = st.sampled_from(['"', "*", "-", "(", ")", "AND", "OR", "NOT", "ver1.1", "🎉", ":", "^"])
QUERIES = st.lists(st.one_of(NASTY, st.text(max_size=10)), max_size=20).map(" ".join) | st.text(
    max_size=50
)


@settings(max_examples=150, deadline=None)
@given(q=QUERIES, session=st.none() | st.just(SESSION) | st.text(max_size=40))
def test_any_search_text_is_200_or_400(client: TestClient, q: str, session: str | None) -> None:
    url = f"/api/conversations/search?q={quote(q, safe='')}"
    if session is not None:
        url += f"&session={quote(session, safe='')}"
    response = client.get(url)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_ten_kilobytes_of_search_text_is_a_400(client: TestClient) -> None:
    response = client.get("/api/conversations/search?q=" + quote("ver1.1 (" * 1300))
    assert response.status_code == 400
