"""Issue #3 item 7: a request made through core is visible in proxy-data within 1 s / 2 s.

Both services are real processes behind the real front; the clock starts when the client has the
whole response, and every probe is a poll with a deadline, never a sleep. The latency is measured
(up to a generous deadline) and held to the design target; a run passes when one of three
attempts meets it, so one scheduling hiccup on a busy CI machine is not a failure while a service
that is slow every time still is.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.integration.stack import Stack, wait_until
from tests.support.fake_upstream import FakeUpstream

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(events=5) as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("fresh") / "data", upstream.url) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"x-api-key": "sk-ant-test-0000", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=stack.front_url, headers=headers, timeout=30) as http:
        yield http


ATTEMPTS = 3
# Well past any target: a record later than this is not late but lost.
VISIBLE_DEADLINE = 15.0

Latencies = dict[str, tuple[float, float]]  # what -> (seconds after the response, target)


def seconds_until(done: float, probe: Callable[[], Any], what: str) -> float:
    """Seconds from ``done`` (monotonic) until ``probe`` first succeeds, this poll included."""
    wait_until(probe, VISIBLE_DEADLINE, what, interval=0.02)
    return time.monotonic() - done


def meets_targets_once(attempt: Callable[[], Latencies]) -> None:
    """Pass when one of ``ATTEMPTS`` runs of ``attempt`` meets every one of its targets."""
    runs: list[Latencies] = []
    for _ in range(ATTEMPTS):
        runs.append(attempt())
        if all(latency <= target for latency, target in runs[-1].values()):
            return
    shown = [
        {
            what: f"{latency:.2f}s > {target}s"
            for what, (latency, target) in run.items()
            if latency > target
        }
        for run in runs
    ]
    pytest.fail(f"no attempt of {ATTEMPTS} met the freshness targets: {shown}")


def one_request(client: httpx.Client, stream: bool) -> Latencies:
    word = f"numbat{uuid.uuid4().hex[:8]}"
    session = str(uuid.uuid4())
    before = client.get("/api/stats", params={"since": "1h"}).json()["totals"]["requests"]
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": f"what is a {word}?"}],
    }
    reply = client.post(
        "/v1/messages?beta=true", json=body, headers={"X-Claude-Code-Session-Id": session}
    )
    assert reply.status_code == 200
    done = time.monotonic()
    request_id = reply.headers["ccp-request-id"]

    def listed() -> bool:
        page = client.get("/api/requests", params={"session": session}).json()
        return any(item["id"] == request_id for item in page["requests"])

    def in_conversations() -> bool:
        page = client.get("/api/conversations", params={"session": session}).json()
        return bool(page["conversations"])

    def searchable() -> bool:
        results = client.get("/api/conversations/search", params={"q": word}).json()["results"]
        return any(hit["request_id"] == request_id for hit in results)

    def in_stats() -> bool:
        totals = client.get("/api/stats", params={"since": "1h"}).json()["totals"]
        return bool(totals["requests"] > before)

    latencies = {
        "listed": (seconds_until(done, listed, "the request in /api/requests"), 1.0),
        "conversation": (seconds_until(done, in_conversations, "its conversation"), 2.0),
        "search": (seconds_until(done, searchable, "its text in search"), 2.0),
        "stats": (seconds_until(done, in_stats, "the request in /api/stats"), 2.0),
    }
    usage = client.get("/v1/usage/samples", params={"since": "5m"}).json()["models"]
    assert any(s["id"] == request_id for s in usage.get("claude-sonnet-4-5", []))
    return latencies


@pytest.mark.parametrize("stream", [True, False])
def test_request_is_listed_within_1s_and_in_conversations_search_and_stats_within_2s(
    client: httpx.Client, stream: bool
) -> None:
    meets_targets_once(lambda: one_request(client, stream))
