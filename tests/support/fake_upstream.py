"""A fast fake of the Anthropic Messages API for tests and the benchmark.

A bare asyncio HTTP/1.1 server (``asyncio.Protocol``, uvloop when installed, no framework) so
that the upstream is never what a measurement or a streaming test is waiting on. Three ways in::

    python tests/support/fake_upstream.py --port 8900 --pace-ms 20 --events 10

    with FakeUpstream() as up:          # background thread, port chosen by the OS
        httpx.post(f"{up.url}/v1/messages", ...)
        up.requests[0].headers["x-api-key"]

    FakeUpstream(port=0, record=False).serve_forever()   # what the CLI and the bench run

Behaviour: ``POST /v1/messages`` streams the Anthropic SSE event sequence with chunked
transfer-encoding, one chunk per event written as it is produced (``pace_ms`` apart), when the
body says ``"stream": true``, and answers one JSON message otherwise;
``POST /v1/messages/count_tokens`` answers ``{"input_tokens": n}``; ``GET /v1/models`` the list
shape. Faults are asked for per instance (``up.mode = "error500"``) or per request with the
``x-fake-mode`` header (comma-separated, see ``MODES``); ``x-fake-events`` and ``x-fake-pace-ms``
override the instance knobs for one request. Usage numbers are a pure function of the request
body (``usage_for``) so tests can say what a record must contain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import signal
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import msgspec
import orjson

MODES = frozenset(
    {
        "error400",  # 400 invalid_request_error (an upstream 4xx must pass through verbatim)
        "error429",  # 429 rate_limit_error with retry-after
        "error500",  # 500 api_error
        "overloaded529",  # 529 overloaded_error with x-should-retry
        "midstream_error",  # a 200 stream that ends with an SSE `error` event half way
        "disconnect",  # a 200 stream whose connection is dropped half way (no final chunk)
        "stall",  # a 200 stream that sends message_start and then nothing until the client goes
        "slow",  # events at least SLOW_PACE_MS apart
        "gzip",  # Content-Encoding: gzip (streams flushed per event so they stay incremental)
        "tool_use",  # a text block, then a tool_use block with input_json_delta, stop tool_use
        "thinking",  # a thinking block (thinking_delta, signature_delta) before the text
    }
)
SLOW_PACE_MS = 50.0
STALL_LIMIT_S = 120.0  # a stalled stream still ends: no unbounded waits in tests
MAX_HEAD = 64 * 1024
WORDS = ("The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog.")
TOOL_INPUT_PARTS = ('{"command": ', '"ls -la"', ', "description": "List files"}')
MODELS = ("claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5")


class Received(NamedTuple):
    """One request as the fake saw it. ``path`` keeps the query string; header names are lower."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# ---------------------------------------------------------------------------------------------
# What the fake says: pure functions of the request.


def usage_for(body: bytes, events: int) -> dict[str, int]:
    """Final usage of a reply to ``body`` with ``events`` text deltas (one output token each).

    The numbers are distinct on purpose, so a test can tell a swapped field from a right one.
    """
    size = len(body)
    return {
        "input_tokens": 3 + size % 97,
        "cache_creation_input_tokens": size // 16,
        "cache_read_input_tokens": size // 8,
        "output_tokens": max(events, 1),
    }


def input_tokens_for(body: bytes) -> int:
    """What count_tokens answers: a rough four bytes a token."""
    return max(1, len(body) // 4)


def text_deltas(events: int) -> list[str]:
    return [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(events)]


def reply_text(events: int) -> str:
    """The text a reply with ``events`` deltas spells out (streamed or not)."""
    return "".join(text_deltas(events))


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _start_usage(usage: dict[str, int]) -> dict[str, Any]:
    created = usage["cache_creation_input_tokens"]
    return {
        "input_tokens": usage["input_tokens"],
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
        "cache_creation": {"ephemeral_5m_input_tokens": created, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
        "service_tier": "standard",
    }


def _block_events(index: int, start: dict[str, Any], deltas: list[dict[str, Any]]) -> list[bytes]:
    frames = [
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    frames.extend(
        _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    )
    frames.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    return frames


def sse_events(
    model: str, msg_id: str, usage: dict[str, int], events: int, modes: frozenset[str]
) -> list[bytes]:
    """The frames of one streamed reply, in order (``event:``/``data:``/blank line each)."""
    message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _start_usage(usage),
    }
    frames = [_sse("message_start", {"type": "message_start", "message": message})]
    index = 0
    if "thinking" in modes:
        thinking = [
            {"type": "thinking_delta", "thinking": "Let me think."},
            {"type": "signature_delta", "signature": "c2lnbmF0dXJl"},
        ]
        frames += _block_events(
            index, {"type": "thinking", "thinking": "", "signature": ""}, thinking
        )
        index += 1
    texts = [{"type": "text_delta", "text": t} for t in text_deltas(events)]
    text_frames = _block_events(index, {"type": "text", "text": ""}, texts)
    # The real API sends a ping right after the first block opens.
    text_frames.insert(1, _sse("ping", {"type": "ping"}))
    if "midstream_error" in modes:
        cut = 2 + len(texts) // 2
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return [*frames, *text_frames[:cut], _sse("error", error)]
    frames += text_frames
    stop_reason = "end_turn"
    if "tool_use" in modes:
        index += 1
        tool = {"type": "tool_use", "id": "toolu_fake_01", "name": "Bash", "input": {}}
        parts = [{"type": "input_json_delta", "partial_json": p} for p in TOOL_INPUT_PARTS]
        frames += _block_events(index, tool, parts)
        stop_reason = "tool_use"
    final_usage = {
        k: usage[k]
        for k in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
        )
    }
    frames.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": final_usage,
            },
        )
    )
    frames.append(_sse("message_stop", {"type": "message_stop"}))
    return frames


def message_json(
    model: str, msg_id: str, usage: dict[str, int], events: int, modes: frozenset[str]
) -> dict[str, Any]:
    """The non-streaming reply: the same content ``sse_events`` would spell out."""
    content: list[dict[str, Any]] = []
    if "thinking" in modes:
        content.append(
            {"type": "thinking", "thinking": "Let me think.", "signature": "c2lnbmF0dXJl"}
        )
    content.append({"type": "text", "text": reply_text(events)})
    stop_reason = "end_turn"
    if "tool_use" in modes:
        content.append(
            {
                "type": "tool_use",
                "id": "toolu_fake_01",
                "name": "Bash",
                "input": orjson.loads("".join(TOOL_INPUT_PARTS)),
            }
        )
        stop_reason = "tool_use"
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {**_start_usage(usage), "output_tokens": usage["output_tokens"]},
    }


def error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


# status, error type, message, extra headers
_FAULTS: dict[str, tuple[int, str, str, tuple[tuple[str, str], ...]]] = {
    "error400": (400, "invalid_request_error", "fake: bad request", ()),
    "error429": (429, "rate_limit_error", "fake: rate limited", (("retry-after", "1"),)),
    "error500": (500, "api_error", "fake: internal error", ()),
    "overloaded529": (529, "overloaded_error", "Overloaded", (("x-should-retry", "true"),)),
}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    529: "Site Overloaded",
}


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _origin_form(target: str) -> str:
    """``/path?query`` of a request target given in absolute form; other targets as they are."""
    if target.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return target


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 request parsing (incremental; Content-Length and chunked bodies).


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class _Head:
    method: str
    target: str
    headers: dict[str, str]
    keep_alive: bool
    length: int  # -1: chunked


def parse_head(raw: bytes) -> _Head:
    try:
        text = raw.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError:
        raise BadRequest(400, "malformed request line") from None
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, f"malformed header line {line!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        length = -1
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequest(400, "bad content-length") from None
        if length < 0:
            raise BadRequest(400, "bad content-length")
    return _Head(method, target, headers, keep_alive, length)


class RequestParser:
    """Feed bytes in, take complete requests out; keeps state across reads and pipelining."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: _Head | None = None
        self._chunks: list[bytes] = []
        self._in_trailers = False

    def feed(self, data: bytes) -> list[tuple[_Head, bytes]]:
        self._buf += data
        done = []
        while (request := self._next()) is not None:
            done.append(request)
        return done

    def _next(self) -> tuple[_Head, bytes] | None:
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD:
                    raise BadRequest(431, "request head too large")
                return None
            self._head = parse_head(bytes(self._buf[:end]))
            del self._buf[: end + 4]
        head = self._head
        body = self._read_chunked() if head.length < 0 else self._read_sized(head.length)
        if body is None:
            return None
        self._head = None
        return head, body

    def _read_sized(self, length: int) -> bytes | None:
        if len(self._buf) < length:
            return None
        body = bytes(self._buf[:length])
        del self._buf[:length]
        return body

    def _read_chunked(self) -> bytes | None:
        while True:
            line_end = self._buf.find(b"\r\n")
            if line_end < 0:
                return None
            if self._in_trailers:
                del self._buf[: line_end + 2]
                if line_end == 0:
                    body = b"".join(self._chunks)
                    self._chunks, self._in_trailers = [], False
                    return body
                continue
            try:
                size = int(bytes(self._buf[:line_end]).split(b";")[0], 16)
            except ValueError:
                raise BadRequest(400, "bad chunk size") from None
            if size == 0:
                del self._buf[: line_end + 2]
                self._in_trailers = True
                continue
            if len(self._buf) < line_end + 2 + size + 2:
                return None
            start = line_end + 2
            self._chunks.append(bytes(self._buf[start : start + size]))
            del self._buf[: start + size + 2]


# ---------------------------------------------------------------------------------------------
# The server.


class _Request(msgspec.Struct):
    """What the fake reads of a Messages body; the rest is checked as JSON, never built."""

    model: object = None
    stream: object = None


_read_request = msgspec.json.Decoder(_Request).decode


class _Connection(asyncio.Protocol):
    def __init__(self, owner: FakeUpstream) -> None:
        self._owner = owner
        self._parser = RequestParser()
        self._queue: asyncio.Queue[tuple[_Head, bytes] | None] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        self._owner._opened(self)
        self._task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        try:
            requests = self._parser.feed(data)
        except BadRequest as exc:
            body = error_body("invalid_request_error", str(exc))
            headers = [
                ("content-type", "application/json"),
                ("connection", "close"),
                ("content-length", str(len(body))),
            ]
            self._write(_head(exc.status, headers) + body)
            self.abort(graceful=True)
            return
        for request in requests:
            self._queue.put_nowait(request)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()
        self._writable.set()
        self._queue.put_nowait(None)
        self._owner._closed(self)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- helpers
    def abort(self, graceful: bool = False) -> None:
        if self._transport is not None:
            if graceful:
                self._transport.close()
            else:
                self._transport.abort()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed.is_set():
            self._transport.write(data)

    async def _drain(self) -> None:
        if not self._writable.is_set():
            await self._writable.wait()

    async def _serve(self) -> None:
        while (request := await self._queue.get()) is not None:
            head, body = request
            keep = await self._respond(head, body)
            if not keep or self._closed.is_set():
                self.abort(graceful=True)
                return

    async def _respond(self, head: _Head, body: bytes) -> bool:
        owner = self._owner
        owner._received(Received(head.method, head.target, head.headers, body))
        # A request in absolute form (``POST http://host/v1/messages``) is what a client sends to
        # a forward proxy: answered like any other, so the fake can stand in for one.
        path = _origin_form(head.target).split("?", 1)[0]
        if head.method == "POST" and path == "/v1/messages":
            return await self._messages(head, body) and head.keep_alive
        if head.method == "POST" and path == "/v1/messages/count_tokens":
            self._json(200, {"input_tokens": input_tokens_for(body)}, head)
        elif head.method == "GET" and path == "/v1/models":
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in MODELS
            ]
            self._json(
                200,
                {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]},
                head,
            )
        elif head.method in ("GET", "HEAD") and path == "/health":
            self._json(200, {"status": "ok"}, head)
        elif head.method == "GET" and path == "/_fake/stats":
            self._json(200, owner.stats(), head)
        else:
            self._raw(
                404, error_body("not_found_error", f"fake: no route {head.method} {path}"), head
            )
        return head.keep_alive

    def _json(self, status: int, data: Any, head: _Head) -> None:
        self._raw(status, orjson.dumps(data), head)

    def _raw(
        self,
        status: int,
        payload: bytes,
        head: _Head,
        extra: tuple[tuple[str, str], ...] = (),
        gzipped: bool = False,
    ) -> None:
        headers = [("content-type", "application/json"), *self._owner._common_headers(), *extra]
        if gzipped:
            payload = gzip.compress(payload, compresslevel=1)
            headers.append(("content-encoding", "gzip"))
        headers.append(("content-length", str(len(payload))))
        if not head.keep_alive:
            headers.append(("connection", "close"))
        self._write(_head(status, headers) + (b"" if head.method == "HEAD" else payload))

    async def _messages(self, head: _Head, body: bytes) -> bool:
        owner = self._owner
        knobs = owner.knobs_for(head.headers)
        try:
            request = _read_request(body)
        except msgspec.DecodeError:
            request = None
        if request is None or not isinstance(request.model, str):
            self._raw(
                400, error_body("invalid_request_error", "fake: body must be JSON with model"), head
            )
            return True
        model = request.model
        for mode, (status, kind, message, extra) in _FAULTS.items():
            if mode in knobs.modes:
                self._raw(status, error_body(kind, message), head, extra)
                return True
        msg_id, usage = owner._next_message(body, knobs.events)
        gzipped = "gzip" in knobs.modes
        if request.stream is not True:
            reply = message_json(model, msg_id, usage, knobs.events, knobs.modes)
            self._raw(200, orjson.dumps(reply), head, gzipped=gzipped)
            return True
        frames = sse_events(model, msg_id, usage, knobs.events, knobs.modes)
        return await self._stream(head, frames, knobs, gzipped)

    async def _stream(self, head: _Head, frames: list[bytes], knobs: Knobs, gzipped: bool) -> bool:
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            *self._owner._common_headers(),
            ("transfer-encoding", "chunked"),
        ]
        compressor = None
        if gzipped:
            headers.append(("content-encoding", "gzip"))
            compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
        if not head.keep_alive:
            headers.append(("connection", "close"))
        self._write(_head(200, headers))
        cut = len(frames) // 2 if "disconnect" in knobs.modes else -1
        pace = knobs.pace_ms / 1000
        for i, frame in enumerate(frames):
            if i == cut:
                self.abort()
                self._owner._count_dropped()
                return False
            if i and pace:
                await asyncio.sleep(pace)
            if i == 1 and "stall" in knobs.modes:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), STALL_LIMIT_S)
            if self._closed.is_set():
                self._owner._count_aborted()
                return False
            data = frame
            if compressor is not None:
                data = compressor.compress(frame) + compressor.flush(zlib.Z_SYNC_FLUSH)
            # A write per event, paced or not: what the proxy is measured on is a stream.
            self._write(_chunk(data))
            await self._drain()
        tail = b"" if compressor is None else _chunk(compressor.flush())
        self._write(tail + b"0\r\n\r\n")
        return True


@dataclass(frozen=True, slots=True)
class Knobs:
    modes: frozenset[str]
    events: int
    pace_ms: float


class FakeUpstream:
    """The fake server: knobs, what it received, and a background-thread runner.

    Knobs (``mode``, ``events``, ``pace_ms``, ``usage``, ``extra_headers``) may be changed between
    requests from the test thread; a request's ``x-fake-*`` headers win over them.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        mode: str = "",
        events: int = 10,
        pace_ms: float = 0.0,
        record: bool = True,
        usage: dict[str, int] | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.mode = mode
        self.events = events
        self.pace_ms = pace_ms
        self.record = record
        self.usage = usage
        self.extra_headers = dict(extra_headers or {})
        self.requests: list[Received] = []
        self.served = 0
        self.aborted = 0  # streams the client left before the end
        self.dropped = 0  # streams the fake cut on purpose ("disconnect")
        self.connections_opened = 0
        self._open: set[_Connection] = set()
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    # -- knobs and bookkeeping (called on the server's loop)
    def knobs_for(self, headers: dict[str, str]) -> Knobs:
        mode_text = headers.get("x-fake-mode", self.mode)
        modes = frozenset(m.strip() for m in mode_text.split(",") if m.strip()) & MODES
        try:
            events = max(1, int(headers.get("x-fake-events", self.events)))
            pace = float(headers.get("x-fake-pace-ms", self.pace_ms))
        except ValueError:
            events, pace = self.events, self.pace_ms
        if "slow" in modes:
            pace = max(pace, SLOW_PACE_MS)
        return Knobs(modes, events, pace)

    def stats(self) -> dict[str, int]:
        return {
            "served": self.served,
            "aborted": self.aborted,
            "dropped": self.dropped,
            "connections_opened": self.connections_opened,
            "open": len(self._open),
        }

    def _common_headers(self) -> list[tuple[str, str]]:
        return [
            ("request-id", f"req_fake_{self.served:08d}"),
            ("anthropic-ratelimit-requests-limit", "4000"),
            ("anthropic-ratelimit-requests-remaining", "3999"),
            *self.extra_headers.items(),
        ]

    def _next_message(self, body: bytes, events: int) -> tuple[str, dict[str, int]]:
        usage = usage_for(body, events) if self.usage is None else dict(self.usage)
        return f"msg_fake_{self.served:08d}", usage

    def _received(self, request: Received) -> None:
        with self._cond:
            self.served += 1
            if self.record:
                self.requests.append(request)
            self._cond.notify_all()

    def _opened(self, conn: _Connection) -> None:
        self.connections_opened += 1
        self._open.add(conn)

    def _closed(self, conn: _Connection) -> None:
        self._open.discard(conn)

    def _count_aborted(self) -> None:
        with self._cond:
            self.aborted += 1
            self._cond.notify_all()

    def _count_dropped(self) -> None:
        self.dropped += 1

    # -- for tests
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def wait_for(self, predicate: Callable[[FakeUpstream], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(self)`` holds (re-checked on each request or abort)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Received]:
        if not self.wait_for(lambda up: up.served >= count, timeout):
            raise TimeoutError(f"fake upstream saw {self.served} requests, wanted {count}")
        return list(self.requests)

    def clear(self) -> None:
        with self._cond:
            self.requests.clear()

    # -- running
    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until ``stop()``; ``self.port`` holds the bound port once ``on_ready`` runs."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port, backlog=1024
        )
        self.port = server.sockets[0].getsockname()[1]
        if on_ready is not None:
            on_ready()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for conn in list(self._open):
                conn.abort()
            await server.wait_closed()

    def serve_forever(self) -> None:
        """Run in this thread until SIGINT/SIGTERM (the command line and the bench)."""

        def ready() -> None:
            print(f"fake upstream listening on {self.url}", flush=True)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            serving = asyncio.ensure_future(self.serve(ready))
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop)
            await serving

        _run(main())

    def start(self) -> FakeUpstream:
        ready = threading.Event()

        def run() -> None:
            try:
                _run(self.serve(ready.set))
            except BaseException as exc:  # surfaced to the test thread by start()
                self._error = exc
                ready.set()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._error is not None:
            raise RuntimeError(f"fake upstream did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already finished
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def events_of(stream: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
    """Split an SSE byte stream into (event, data) pairs: a helper for tests' assertions."""
    for frame in stream.split(b"\n\n"):
        if not frame.strip():
            continue
        event, data = "", b""
        for line in frame.split(b"\n"):
            if line.startswith(b"event:"):
                event = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data += line[5:].strip()
        yield event, orjson.loads(data) if data else {}


def _run(coro: Any) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake Anthropic Messages API upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    parser.add_argument("--pace-ms", type=float, default=0.0, help="delay between SSE events")
    parser.add_argument("--events", type=int, default=10, help="text deltas per reply")
    parser.add_argument(
        "--mode", default="", help=f"comma-separated, of: {', '.join(sorted(MODES))}"
    )
    parser.add_argument("--record", action="store_true", help="keep received requests in memory")
    args = parser.parse_args(argv)
    unknown = {m for m in args.mode.split(",") if m} - MODES
    if unknown:
        parser.error(f"unknown mode(s): {', '.join(sorted(unknown))}")
    FakeUpstream(
        args.port,
        host=args.host,
        mode=args.mode,
        events=args.events,
        pace_ms=args.pace_ms,
        record=args.record,
    ).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
