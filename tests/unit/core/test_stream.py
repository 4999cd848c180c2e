from __future__ import annotations

import asyncio
import base64
import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import brotli
import orjson
import pytest

from ccp_core.exchange import Exchange
from ccp_core.stream import Tee, relay
from tests.unit.core.test_exchange import SCOPE, make_core

START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"model":"m",'
    b'"usage":{"input_tokens":5,"output_tokens":1}}}\n\n'
)
DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
END = (
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":4}}\n\n'
)


def test_sse_copy_is_watched_and_kept() -> None:
    tee = Tee("text/event-stream; charset=utf-8", None)
    tee.feed(START, 1.0)
    assert tee.first_delta_at is None
    tee.feed(DELTA, 2.0)
    tee.feed(END, 3.0)
    summary = tee.finish()
    assert tee.first_delta_at == 2.0
    assert (summary.model, summary.input_tokens, summary.output_tokens) == ("m", 5, 4)
    assert tee.body() == START + DELTA + END
    assert tee.size == len(START + DELTA + END)
    assert tee.finish() is summary  # computed once, whichever path ends the stream


def test_broken_event_stops_watching_but_not_keeping() -> None:
    tee = Tee("text/event-stream", None)
    tee.feed(START, 1.0)
    tee.feed(b"event: message_delta\ndata: {broken\n\n", 2.0)
    tee.feed(DELTA, 3.0)
    assert tee.first_delta_at is None  # no longer watched after the parse error
    assert tee.finish().input_tokens == 5  # what was seen before is kept
    assert tee.body().endswith(DELTA)


def test_compressed_copy_is_decoded_and_size_counts_wire_bytes() -> None:
    packed = gzip.compress(START + DELTA + END)
    tee = Tee("text/event-stream", "gzip")
    for i in range(0, len(packed), 5):
        tee.feed(packed[i : i + 5], float(i))
    assert tee.finish().output_tokens == 4
    assert tee.size == len(packed)
    assert tee.body() == START + DELTA + END


def test_an_undecodable_copy_keeps_the_wire_bytes() -> None:
    wire = b"this is not gzip at all" + START
    tee = Tee("text/event-stream", "gzip")
    tee.feed(wire[:23], 1.0)
    tee.feed(wire[23:], 2.0)
    assert tee.size == len(wire)
    assert tee.body() == wire and tee.finish().model is None
    assert tee.undecoded is not None and "gzip" in tee.undecoded


def test_a_copy_corrupt_part_way_keeps_the_wire_bytes_not_a_truncated_body() -> None:
    packed = gzip.compress(START + DELTA * 200 + END)
    half = len(packed) // 2
    wire = packed[:half] + bytes(range(256)) + packed[half:]
    tee = Tee("text/event-stream", "gzip")
    for i in range(0, len(wire), 64):
        tee.feed(wire[i : i + 64], float(i))
    assert tee.undecoded is not None
    assert tee.body() == wire
    assert tee.finish().input_tokens == 5  # what was decoded before the damage still counts


def test_stacked_encodings_are_kept_as_wire_bytes() -> None:
    wire = brotli.compress(gzip.compress(b'{"type":"message","usage":{"input_tokens":3}}'))
    tee = Tee("application/json", "gzip, br")
    tee.feed(wire, 1.0)
    assert tee.body() == wire
    assert tee.undecoded is not None and "gzip, br" in tee.undecoded
    assert tee.finish().input_tokens is None  # usage unknown, not guessed


def test_an_identity_body_is_not_kept_twice() -> None:
    tee = Tee("text/event-stream", None)
    tee.feed(START, 1.0)
    assert tee._raw is None and tee.undecoded is None


def test_json_bodies_are_read_once_complete() -> None:
    message = {
        "type": "message",
        "model": "claude-x",
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 9, "output_tokens": 3, "cache_read_input_tokens": 100},
    }
    body = orjson.dumps(message)
    tee = Tee("application/json", None)
    tee.feed(body[:10], 1.0)
    tee.feed(body[10:], 2.0)
    summary = tee.finish()
    assert (summary.model, summary.stop_reason) == ("claude-x", "tool_use")
    assert (summary.input_tokens, summary.cache_read_input_tokens) == (9, 100)
    assert tee.first_delta_at is None


def test_json_error_bodies_give_the_error_type() -> None:
    tee = Tee("application/json", None)
    tee.feed(b'{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}', 1.0)
    summary = tee.finish()
    assert (summary.error_type, summary.error_message) == ("rate_limit_error", "slow")


def test_non_json_error_pages_are_kept_without_a_summary() -> None:
    tee = Tee("text/html", None)
    tee.feed(b"<html>502 Bad Gateway</html>", 1.0)
    assert tee.finish().error_type is None
    assert tee.body() == b"<html>502 Bad Gateway</html>"


class FakeBody:
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class FakeUpstreamResponse:
    """What relay reads of an aiohttp response, and whether it was closed or released."""

    status = 200
    headers = {"content-type": "text/event-stream"}
    raw_headers = ((b"content-type", b"text/event-stream"),)

    def __init__(self, chunks: list[bytes]) -> None:
        self.content = FakeBody(chunks)
        self.closed = self.released = False

    def close(self) -> None:
        self.closed = True

    def release(self) -> None:
        self.released = True


def test_a_complete_response_returns_its_connection_to_the_pool(tmp_path: Path) -> None:
    core, recorder = make_core(tmp_path)
    response = FakeUpstreamResponse([START, DELTA, END])
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(relay(response, send, Exchange(core, SCOPE)))  # type: ignore[arg-type]
    assert response.released and not response.closed
    assert b"".join(m.get("body", b"") for m in sent) == START + DELTA + END
    assert [r.status for r in recorder.records] == ["ok"]


def test_cancelled_while_sending_the_head_closes_the_upstream_response(tmp_path: Path) -> None:
    core, _ = make_core(tmp_path)
    response = FakeUpstreamResponse([START])

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(relay(response, send, Exchange(core, SCOPE)))  # type: ignore[arg-type]
    assert response.closed and not response.released


class StackedEncodingResponse(FakeUpstreamResponse):
    headers = {"content-type": "application/json", "content-encoding": "gzip, br"}
    raw_headers = ((b"content-type", b"application/json"), (b"content-encoding", b"gzip, br"))


def test_the_record_of_an_undecodable_response_holds_its_wire_bytes(tmp_path: Path) -> None:
    core, recorder = make_core(tmp_path)
    wire = brotli.compress(gzip.compress(b'{"type":"message"}'))
    response = StackedEncodingResponse([wire[:4], wire[4:]])

    async def send(message: dict[str, Any]) -> None:
        pass

    asyncio.run(relay(response, send, Exchange(core, SCOPE)))  # type: ignore[arg-type]
    (record,) = recorder.records
    assert record.status == "ok" and record.response_bytes == len(wire)
    assert isinstance(record.response_body, str)
    assert base64.b64decode(record.response_body) == wire
    assert record.route_decision is not None
    note = record.route_decision["response_body"]
    assert (note["stored_as"], note["content_encoding"]) == ("base64", "gzip, br")
