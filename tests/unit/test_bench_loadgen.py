"""The load generator's client against the fake upstream and against scripted servers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench import loadgen
from bench.http1 import build_request
from tests.conftest import free_port
from tests.support.fake_upstream import FakeUpstream

STREAM = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def sized(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_bytes(orjson.dumps({"model": "claude-test-1", "stream": True, "messages": []}))
    return path


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream(events=4, record=False) as server:
        yield server


def make_spec(url: str, body_file: Path, **knobs: Any) -> dict[str, Any]:
    return {"url": url + "/v1/messages?beta=true", "body_file": str(body_file), **knobs}


class Scripted:
    """A server answering each request with the next of ``replies``, as raw bytes; it closes the
    connection after a reply that says ``Connection: close``."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = replies
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                assert length is not None
                await reader.readexactly(int(length[1]))
                reply = self.replies.pop(0)
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply:
                    return
        except asyncio.IncompleteReadError:
            return  # the client closed the connection
        finally:
            writer.close()

    def run(self, body_file: Path, **knobs: Any) -> dict[str, Any]:
        async def main() -> dict[str, Any]:
            server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            try:
                return await loadgen.run(make_spec(f"http://127.0.0.1:{port}", body_file, **knobs))
            finally:
                server.close()

        return asyncio.run(main())


def test_streams_from_the_fake_upstream_are_timed_on_one_connection_per_worker(
    up: FakeUpstream, body_file: Path
) -> None:
    result = asyncio.run(
        loadgen.run(make_spec(up.url, body_file, requests=20, warmup=3, connections=4))
    )
    assert (result["sent"], result["measured"], result["failures"]) == (23, 20, 0)
    assert len(result["latency_ms"]) == len(result["ttft_ms"]) == 20
    assert all(0 < t <= lat for t, lat in zip(result["ttft_ms"], result["latency_ms"], strict=True))
    assert result["ok_per_s"] > 0
    # The warm-up's connection is reused by the first worker.
    assert up.connections_opened == 4


def test_a_500_is_a_failure_and_at_most_five_errors_are_kept(
    up: FakeUpstream, body_file: Path
) -> None:
    spec = make_spec(up.url, body_file, requests=7, headers={"x-fake-mode": "error500"})
    result = asyncio.run(loadgen.run(spec))
    assert result["failures"] == result["sent"] == 7
    assert result["latency_ms"] == []
    assert len(result["errors"]) == 5
    assert result["errors"][0].startswith("status 500")


def test_a_stream_without_message_stop_is_a_failure(up: FakeUpstream, body_file: Path) -> None:
    spec = make_spec(up.url, body_file, requests=2, headers={"x-fake-mode": "midstream_error"})
    result = asyncio.run(loadgen.run(spec))
    assert result["failures"] == 2
    assert "status 200, stream tail" in result["errors"][0]
    assert "Overloaded" in result["errors"][0]


def test_a_dropped_stream_is_a_failure_and_the_worker_reconnects(
    up: FakeUpstream, body_file: Path
) -> None:
    spec = make_spec(up.url, body_file, requests=3, headers={"x-fake-mode": "disconnect"})
    result = asyncio.run(loadgen.run(spec))
    assert result["failures"] == result["sent"] == 3
    assert "closed before the response was complete" in result["errors"][0]
    assert up.connections_opened == 3


def test_no_complete_response_in_time_is_a_failure(
    up: FakeUpstream, body_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loadgen, "REQUEST_TIMEOUT_S", 0.2)
    spec = make_spec(up.url, body_file, requests=1, headers={"x-fake-mode": "stall"})
    result = asyncio.run(loadgen.run(spec))
    assert result["failures"] == 1
    assert result["errors"] == ["TimeoutError: no complete response within 0.2 s"]


def test_a_refused_connection_is_a_failure(body_file: Path) -> None:
    result = asyncio.run(
        loadgen.run(make_spec(f"http://127.0.0.1:{free_port()}", body_file, requests=3))
    )
    assert result["failures"] == result["sent"] == 3
    assert result["errors"][0].startswith("ConnectionRefusedError")


def test_connection_close_makes_the_next_request_reconnect(body_file: Path) -> None:
    server = Scripted([sized(STREAM, "Connection: close") for _ in range(3)])
    result = server.run(body_file, requests=3)
    assert result["failures"] == 0
    assert len(result["latency_ms"]) == 3
    assert server.connections == 3


def test_keep_alive_content_length_replies_share_one_connection(body_file: Path) -> None:
    server = Scripted([sized(STREAM) for _ in range(3)])
    result = server.run(body_file, requests=3)
    assert result["failures"] == 0
    assert server.connections == 1


def test_a_malformed_response_is_a_failure_and_the_next_request_starts_afresh(
    body_file: Path,
) -> None:
    server = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", sized(STREAM)])
    result = server.run(body_file, requests=2)
    assert result["failures"] == 1
    assert result["errors"] == ["MalformedResponse: bad content-length 'x'"]
    assert len(result["latency_ms"]) == 1
    assert server.connections == 2


def test_one_request_returns_the_proxy_record_id(body_file: Path) -> None:
    async def main() -> str | None:
        server = await asyncio.start_server(
            Scripted([sized(STREAM, "CCP-Request-Id: rec-42")]).handle, "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        client = loadgen.Client(build_request(f"http://127.0.0.1:{port}/", {}, b"{}"))
        try:
            return await loadgen.one_request(client, loadgen.Tally())
        finally:
            client.close()
            server.close()

    assert asyncio.run(main()) == "rec-42"


def test_markers_are_seen_across_piece_boundaries() -> None:
    exchange = loadgen.Exchange(started=0.0)
    for piece in (b"x" * 100 + b"content_blo", b"ck_delta ", b"message_st", b"op\n\n"):
        exchange.watch(piece)
    assert exchange.ttft is not None
    assert loadgen.STREAM_END in exchange.tail
    assert len(exchange.tail) <= loadgen.TAIL


def test_measure_runs_the_client_in_a_process_of_its_own(up: FakeUpstream, body_file: Path) -> None:
    result = loadgen.measure(make_spec(up.url, body_file, requests=5, warmup=1))
    assert (result["sent"], result["measured"], result["failures"]) == (6, 5, 0)
    assert len(result["latency_ms"]) == 5
