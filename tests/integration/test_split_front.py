"""The :3000 front (deploy/Caddyfile) in front of real proxy-core and proxy-data processes."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.integration.stack import Stack
from tests.support.fake_upstream import FakeUpstream, events_of
from tests.support.freshness import Latencies, meets_targets_once, seconds_until

pytestmark = pytest.mark.integration

HOSTS = ["localhost", "127.0.0.1", "ccp.example.test"]


def message_body(text: str = "hello", *, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def data_requests_served(stack: Stack) -> int:
    """Requests proxy-data has answered, by its own /metrics (not counting /metrics itself)."""
    text = httpx.get(f"{stack.data_url}/metrics", timeout=10).text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("ccp_data_api_request_duration_seconds_count{")
        and 'route="/metrics"' not in line
    )


def test_probes_are_answered_by_the_front_itself(client: httpx.Client, stack: Stack) -> None:
    served = data_requests_served(stack)

    head = client.head("/")
    telemetry = client.post("/api/event_logging/batch", json={"events": []})
    telemetry_v2 = client.post("/api/event_logging/v2/batch", json={"events": []})

    assert head.status_code == 200
    assert telemetry.status_code == 204
    assert telemetry_v2.status_code == 204
    # /api/* goes to proxy-data unless the front answers itself: its count must not move.
    assert data_requests_served(stack) == served
    assert client.get("/api/health").status_code == 200
    assert data_requests_served(stack) == served + 1  # the count does see a proxied request


@pytest.mark.parametrize("host", HOSTS)
def test_any_host_name_reaches_both_services(client: httpx.Client, stack: Stack, host: str) -> None:
    # The site is addressed by port only: localhost must not get an empty 200 (a past bug).
    headers = {"Host": f"{host}:{stack.ports.front}"}

    core_health = client.get("/health", headers=headers)
    data_health = client.get("/api/health", headers=headers)
    reply = client.post("/v1/messages", json=message_body(), headers=headers)

    assert core_health.status_code == 200
    assert core_health.json()["service"] == "proxy-core"
    assert data_health.status_code == 200
    assert data_health.json()["service"] == "proxy-data"
    assert reply.status_code == 200
    assert reply.json()["type"] == "message"


def test_localhost_url_works_as_claude_code_uses_it(stack: Stack) -> None:
    url = f"http://localhost:{stack.ports.front}/v1/models?limit=1000"

    reply = httpx.get(url, headers={"x-api-key": "sk-ant-test-0000"}, timeout=10)

    assert reply.status_code == 200
    assert reply.json()["data"], reply.text


def test_v1_health_is_core_health(client: httpx.Client) -> None:
    reply = client.get("/v1/health")

    assert reply.status_code == 200
    assert reply.json()["service"] == "proxy-core"


def test_query_string_reaches_the_upstream(client: httpx.Client, upstream: FakeUpstream) -> None:
    marker = uuid.uuid4().hex
    reply = client.post("/v1/messages?beta=true", json=message_body(marker))

    assert reply.status_code == 200
    seen = [r for r in upstream.requests if marker.encode() in r.body]
    assert [r.path for r in seen] == ["/v1/messages?beta=true"]


def test_a_real_claude_code_turn_reaches_the_upstream_byte_for_byte(
    client: httpx.Client,
    upstream: FakeUpstream,
    first_turn_body: bytes,
    claude_code_headers: dict[str, str],
) -> None:
    hop = {"connection", "accept-encoding", "content-length", "host"}
    headers = {k: v for k, v in claude_code_headers.items() if k.lower() not in hop}
    before = len(upstream.requests)

    with client.stream(
        "POST", "/v1/messages?beta=true", content=first_turn_body, headers=headers
    ) as reply:
        body = reply.read()

    assert reply.status_code == 200
    assert [event for event, _ in events_of(body)][-1] == "message_stop"
    received = upstream.requests[before]
    assert received.path == "/v1/messages?beta=true"
    assert received.body == first_turn_body
    for name in ("x-claude-code-session-id", "anthropic-beta", "anthropic-version", "x-api-key"):
        assert received.headers[name] == headers[next(k for k in headers if k.lower() == name)]


def test_the_front_leaves_no_trace_in_either_direction(
    client: httpx.Client, upstream: FakeUpstream
) -> None:
    marker = uuid.uuid4().hex
    reply = client.post("/v1/messages", json=message_body(marker))

    seen = next(r for r in upstream.requests if marker.encode() in r.body)
    hop_headers = {"via", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"}
    assert hop_headers & seen.headers.keys() == set()
    assert "via" not in reply.headers


def test_stream_chunks_pass_the_front_as_they_are_produced(client: httpx.Client) -> None:
    arrivals: list[tuple[float, bytes]] = []
    headers = {"x-fake-pace-ms": "150", "x-fake-events": "6"}
    start = time.monotonic()
    with client.stream(
        "POST", "/v1/messages", json=message_body(stream=True), headers=headers
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in reply.headers
        for chunk in reply.iter_raw():
            arrivals.append((time.monotonic() - start, chunk))

    body = b"".join(chunk for _, chunk in arrivals)
    first_delta = next(t for t, chunk in arrivals if b"content_block_delta" in chunk)
    # Buffering anywhere would deliver everything at the end; paced events spread over ~1.5 s.
    assert arrivals[-1][0] - first_delta > 0.5
    assert [event for event, _ in events_of(body)][-1] == "message_stop"


def chunks_of(size: int, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    while size > 0:
        yield b"x" * min(chunk, size)
        size -= chunk


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_64_mib_is_refused_in_the_anthropic_error_shape(
    client: httpx.Client, framing: str
) -> None:
    size = 64 * 1024 * 1024 + 1
    # A generator has no length, so httpx sends it with Transfer-Encoding: chunked.
    content = b"x" * size if framing == "content-length" else chunks_of(size)

    reply = client.post("/v1/messages", content=content)

    assert reply.status_code == 413
    assert reply.json()["type"] == "error"
    assert reply.json()["error"]["type"] == "request_too_large"


def test_a_body_of_exactly_64_mib_reaches_proxy_core(client: httpx.Client) -> None:
    reply = client.post("/v1/messages", content=b"x" * (64 * 1024 * 1024))

    # Not JSON, so proxy-core itself refuses it: the front let the whole body through.
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert "ccp-request-id" in reply.headers


def raw_reply(port: int, request: bytes) -> bytes:
    """What the front answers to ``request`` sent as raw bytes, read until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return reply


def test_a_body_the_front_cannot_read_is_not_blamed_on_a_healthy_service(stack: Stack) -> None:
    # Chunked framing that is not hex: Caddy fails reading the body while passing it on, and
    # answers 502 as it does for a service that is down.
    reply = raw_reply(
        stack.ports.front,
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    )

    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 502 Bad Gateway"
    error = orjson.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["type"] == "api_error"
    assert "its body could not be read (malformed or cut short)" in error["message"]
    assert "not reachable" not in error["message"]
    assert stack.core.healthy()


def test_both_services_report_the_same_database(client: httpx.Client, stack: Stack) -> None:
    core = client.get("/health").json()
    data = client.get("/api/health").json()

    assert core["database"]["path"] == data["database"]["path"]
    assert Path(core["database"]["path"]).resolve() == stack.db_path.resolve()


def test_a_proxied_request_is_listed_within_1s_and_searchable_within_2s(
    client: httpx.Client,
) -> None:
    meets_targets_once(lambda: one_request(client))


def one_request(client: httpx.Client) -> Latencies:
    word = f"quokka{uuid.uuid4().hex[:10]}"
    reply = client.post("/v1/messages", json=message_body(f"tell me about {word}"))
    done = time.monotonic()
    request_id = reply.headers["ccp-request-id"]

    def listed() -> bool:
        page = client.get("/api/requests", params={"limit": 50}).json()
        return any(item["id"] == request_id for item in page["requests"])

    def found() -> list[dict[str, Any]] | None:
        page = client.get("/api/conversations/search", params={"q": word}).json()
        hits = [hit for hit in page["results"] if hit["request_id"] == request_id]
        return hits or None

    listed_after = seconds_until(done, listed, "the request in /api/requests")
    found_after = seconds_until(done, found, "the request in search")
    hits = found()
    assert hits is not None and word in orjson.dumps(hits[0]).decode()
    return {"listed": (listed_after, 1.0), "search": (found_after, 2.0)}
