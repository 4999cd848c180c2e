"""The tee: upstream bytes go to the client untouched while a copy is decoded and watched.

Every chunk is sent before it is looked at, so watching can never delay the stream; a copy that
cannot be decoded or parsed stops being watched, the stream carries on. A compressed body is also
kept as it came, so one that cannot be decoded (an encoding we do not read, stacked encodings,
corrupt data) is still recorded whole: as its wire bytes, with ``undecoded`` saying why.
"""

from __future__ import annotations

import logging
import time

import aiohttp
import orjson
from starlette.types import Send

from ccp_core.decoding import DecodeError, Decoder, decoder_for
from ccp_core.exchange import Exchange
from ccp_core.headers import downstream_headers, header_dict
from ccp_core.sse import StreamWatcher
from ccp_core.summary import ResponseSummary
from ccp_shared.records import STATUS_OK, STATUS_UPSTREAM_ERROR

log = logging.getLogger(__name__)


class Tee:
    """The watched copy of one response body."""

    __slots__ = (
        "_decode",
        "_json",
        "_parts",
        "_raw",
        "_summary",
        "_watcher",
        "_watching",
        "content_encoding",
        "first_delta_at",
        "size",
        "undecoded",
    )

    def __init__(self, content_type: str | None, content_encoding: str | None) -> None:
        self.size = 0
        self.first_delta_at: float | None = None
        self.content_encoding = content_encoding
        # Why the copy stopped being decoded; the recorded body is then the wire bytes.
        self.undecoded: str | None = None
        self._parts: list[bytes] = []
        self._summary: ResponseSummary | None = None
        media = (content_type or "").split(";", 1)[0].strip().lower()
        self._watcher = StreamWatcher() if media == "text/event-stream" else None
        self._watching = self._watcher is not None
        self._json = media == "application/json" or media.endswith("+json")
        self._decode: Decoder | None
        try:
            self._decode = decoder_for(content_encoding)
        except DecodeError as exc:
            log.info("not watching a response: %s", exc)
            self._decode = None
            self.undecoded = str(exc)
        # The wire bytes, kept while decoding may still fail; an identity body is its own copy.
        identity = self._decode is not None and self._decode is decoder_for(None)
        self._raw: list[bytes] | None = None if identity else []

    def feed(self, chunk: bytes, arrived: float) -> None:
        self.size += len(chunk)
        if self._raw is not None:
            self._raw.append(chunk)
        if self._decode is None:
            return
        try:
            plain = self._decode(chunk)
        except DecodeError as exc:
            log.warning("stopped decoding a response copy: %s", exc)
            self._decode = None
            self.undecoded = f"content-encoding {self.content_encoding!r}: {exc}"
            self._parts = []  # the wire bytes are what gets recorded now
            return
        self._parts.append(plain)
        watcher = self._watcher
        if watcher is None or not self._watching:
            return
        try:
            watcher.feed(plain)
        except ValueError as exc:
            # What was seen so far stays in the summary; the rest is kept but not parsed.
            log.warning("stopped watching a stream: %s", exc)
            self._watching = False
            return
        if self.first_delta_at is None and watcher.saw_delta:
            self.first_delta_at = arrived

    def body(self) -> bytes:
        """The decoded body; the wire bytes when it could not be decoded (see ``undecoded``)."""
        if self.undecoded is not None and self._raw is not None:
            return b"".join(self._raw)
        return b"".join(self._parts)

    def finish(self) -> ResponseSummary:
        """The facts seen; computed once (the stream may end down more than one path)."""
        if self._summary is not None:
            return self._summary
        if self.undecoded is None:
            self._raw = None  # decoded to the end: the wire copy is not needed
        if self._watcher is not None:
            if self._watching:
                try:
                    self._watcher.close()
                except ValueError as exc:
                    log.warning("could not read the end of a stream: %s", exc)
            self._summary = self._watcher.summary
        else:
            self._summary = ResponseSummary()
            if self._json and self._parts and self.undecoded is None:
                try:
                    self._summary.apply_body(orjson.loads(self.body()))
                except orjson.JSONDecodeError as exc:
                    log.warning("response body is not JSON: %s", exc)
        return self._summary


async def relay(response: aiohttp.ClientResponse, send: Send, exchange: Exchange) -> None:
    """Send the upstream response to the client chunk by chunk, then finish the exchange.

    If the upstream breaks mid-body we return without ending the body: the server then drops the
    client connection, so the client sees a truncated response instead of a clean, short one.
    """
    tee = Tee(response.headers.get("content-type"), response.headers.get("content-encoding"))
    exchange.tee = tee
    exchange.upstream_answered(response.status, header_dict(response.raw_headers))
    complete = False
    try:
        # Inside the try: a cancellation while the head is sent must close the response too.
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": downstream_headers(response.raw_headers, exchange.record.id),
            }
        )
        exchange.response_started = True
        async for chunk in response.content.iter_any():
            arrived = time.perf_counter()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            tee.feed(chunk, arrived)
        complete = True
    except (aiohttp.ClientError, TimeoutError) as exc:
        timeout = isinstance(exc, TimeoutError)
        log.warning("request %s: upstream stream broke off: %r", exchange.record.id, exc)
        exchange.finish(
            STATUS_UPSTREAM_ERROR,
            error_type="timeout_error" if timeout else "upstream_disconnected",
            error_message=f"upstream stream broke off: {exc!r}",
        )
        return
    finally:
        # A response read to its end returns its connection to the pool; any other exit
        # (client gone, cancelled, broken) closes it so the provider stops generating at once.
        if complete:
            response.release()
        else:
            response.close()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    summary = tee.finish()
    if response.status >= 400 or summary.error_type is not None:
        exchange.finish(
            STATUS_UPSTREAM_ERROR,
            error_type=summary.error_type or f"http_{response.status}",
            error_message=summary.error_message,
        )
    else:
        exchange.finish(STATUS_OK)
