"""The fake upstream speaks the Anthropic wire format that tests and the bench rely on."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.support.fake_upstream import (
    BadRequest,
    FakeUpstream,
    RequestParser,
    events_of,
    reply_text,
    usage_for,
)

BODY = orjson.dumps({"model": "claude-test-1", "stream": True, "messages": []})


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream(events=4) as server:
        yield server


def test_stream_is_the_anthropic_event_sequence_echoing_the_model(up: FakeUpstream) -> None:
    with httpx.stream("POST", f"{up.url}/v1/messages?beta=true", content=BODY) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read()
    events = list(events_of(raw))
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start, delta = events[0][1], events[-2][1]
    usage = usage_for(BODY, 4)
    assert start["message"]["model"] == "claude-test-1"
    assert start["message"]["usage"]["cache_read_input_tokens"] == usage["cache_read_input_tokens"]
    assert delta["usage"] == usage
    assert delta["delta"]["stop_reason"] == "end_turn"
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    assert text == reply_text(4)


def test_records_requests_and_reuses_keep_alive_connections(up: FakeUpstream) -> None:
    with httpx.Client(base_url=up.url) as client:
        reply = client.post("/v1/messages", content=b'{"model": "m"}', headers={"X-Key": "k"})
        count = client.post("/v1/messages/count_tokens?beta=true", content=b"x" * 400)
    assert reply.json()["content"][0]["text"] == reply_text(4)
    assert count.json() == {"input_tokens": 100}
    first, second = up.wait_for_requests(2)
    assert (first.method, first.path, first.headers["x-key"]) == ("POST", "/v1/messages", "k")
    assert second.path == "/v1/messages/count_tokens?beta=true"
    assert second.body == b"x" * 400
    assert up.connections_opened == 1


def test_reads_chunked_request_bodies(up: FakeUpstream) -> None:
    parts = [b'{"model": ', b'"chunky", ', b'"stream": false}']
    reply = httpx.post(f"{up.url}/v1/messages", content=iter(parts))
    assert reply.json()["model"] == "chunky"
    assert up.requests[0].body == b"".join(parts)


@pytest.mark.parametrize(
    ("mode", "status", "error_type"),
    [("error500", 500, "api_error"), ("overloaded529", 529, "overloaded_error")],
)
def test_fault_modes_answer_in_the_error_shape(
    up: FakeUpstream, mode: str, status: int, error_type: str
) -> None:
    reply = httpx.post(f"{up.url}/v1/messages", content=BODY, headers={"x-fake-mode": mode})
    assert reply.status_code == status
    body = reply.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert body["error"]["message"]


def test_midstream_error_ends_with_an_error_event(up: FakeUpstream) -> None:
    up.mode = "midstream_error"
    raw = httpx.post(f"{up.url}/v1/messages", content=BODY).content
    names = [name for name, _ in events_of(raw)]
    assert names[-1] == "error"
    assert "message_stop" not in names


def test_disconnect_mode_breaks_the_stream(up: FakeUpstream) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{up.url}/v1/messages", content=BODY, headers={"x-fake-mode": "disconnect"})
    assert up.dropped == 1


def test_gzip_stream_decodes_to_the_same_events(up: FakeUpstream) -> None:
    headers = {"x-fake-mode": "gzip,tool_use", "accept-encoding": "gzip"}
    with httpx.stream("POST", f"{up.url}/v1/messages", content=BODY, headers=headers) as response:
        assert response.headers["content-encoding"] == "gzip"
        compressed = b"".join(response.iter_raw())
    events = list(events_of(gzip.decompress(compressed)))
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-1][0] == "message_stop"


def test_counts_a_stream_the_client_leaves(up: FakeUpstream) -> None:
    headers = {"x-fake-mode": "slow", "x-fake-events": "100"}
    with httpx.stream("POST", f"{up.url}/v1/messages", content=BODY, headers=headers) as response:
        next(response.iter_raw())
    assert up.wait_for(lambda server: server.aborted == 1)


def test_a_malformed_request_gets_a_400_and_a_close(up: FakeUpstream) -> None:
    with socket.create_connection((up.host, up.port), timeout=5) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_parser_handles_split_and_pipelined_requests() -> None:
    parser = RequestParser()
    wire = (
        b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n"
    )
    done = [request for i in range(len(wire)) for request in parser.feed(wire[i : i + 1])]
    assert [(head.target, body) for head, body in done] == [("/a", b"abc"), ("/b", b"hi!")]
    with pytest.raises(BadRequest):
        parser.feed(b"POST /c HTTP/1.1\r\nContent-Length: -1\r\n\r\n")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"stream": true}', b'{"model": 7}'])
def test_a_messages_body_without_a_model_string_gets_a_400(up: FakeUpstream, body: bytes) -> None:
    reply = httpx.post(f"{up.url}/v1/messages", content=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


def _chunk_sizes(raw: bytes) -> list[int]:
    """The sizes of the chunks of a chunked body, in order, the final zero-size one last."""
    sizes, rest = [], raw.split(b"\r\n\r\n", 1)[1]
    while True:
        line, rest = rest.split(b"\r\n", 1)
        sizes.append(int(line, 16))
        if sizes[-1] == 0:
            return sizes
        rest = rest[sizes[-1] + 2 :]


def test_an_unpaced_stream_still_sends_one_chunk_per_event(up: FakeUpstream) -> None:
    request = (
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(BODY), BODY)
    )
    raw = b""
    with socket.create_connection((up.host, up.port), timeout=5) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            raw += chunk
    # Four text deltas: ten events (see the first test), each its own chunk, then the last one.
    assert len(_chunk_sizes(raw)) == 10 + 1
