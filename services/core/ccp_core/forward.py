"""POST /v1/messages and /v1/messages/count_tokens: read, check, forward, relay, record.

A raw ASGI endpoint rather than a Starlette request handler: the hot path needs the body bytes,
the send channel and its own disconnect watch, and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

import aiohttp
import msgspec
import orjson
from starlette.types import Receive, Scope, Send
from yarl import URL

from ccp_core.egress import DIRECT, Egress
from ccp_core.errors import (
    ApiError,
    BodyTooLarge,
    InvalidRequest,
    UpstreamTimeout,
    UpstreamUnreachable,
    error_body,
)
from ccp_core.exchange import Exchange
from ccp_core.headers import REQUEST_ID_HEADER, control_character_header, upstream_headers
from ccp_core.providers import choose_provider, upstream_url
from ccp_core.state import CoreState
from ccp_core.stream import relay
from ccp_shared.config import ProviderConfig
from ccp_shared.records import STATUS_CLIENT_CLOSED, STATUS_PROXY_ERROR, RequestRecord
from ccp_shared.session import session_of

log = logging.getLogger(__name__)


class ClientGone(Exception):
    """The client disconnected before its request was complete."""


async def read_body(receive: Receive, content_length: str | None, limit: int) -> bytes:
    """The whole request body, refusing more than ``limit`` bytes before and while reading."""
    if content_length is not None and content_length.strip().isdigit():
        if int(content_length) > limit:
            raise BodyTooLarge(f"request body of {content_length} bytes exceeds {limit} bytes")
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body exceeds {limit} bytes")
            parts.append(chunk)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


class RequestHead(msgspec.Struct):
    """The fields of a Messages request proxy-core reads; the decoder skips the rest unbuilt."""

    model: object = None
    stream: object = None
    # Kept as its JSON text: only a request without the session header needs it parsed.
    metadata: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


_read_head = msgspec.json.Decoder(RequestHead).decode


class ParsedRequest(NamedTuple):
    model: str
    stream: bool
    # ``metadata`` as its JSON text (bytes, read lazily) or as parsed in full; None when absent.
    metadata: object = None

    @property
    def body_session(self) -> str | None:
        """The session ``metadata.user_id`` names; the session header, when sent, wins over it."""
        metadata = self.metadata
        if isinstance(metadata, bytes):
            try:
                metadata = orjson.loads(metadata)
            except orjson.JSONDecodeError:
                # JSON that orjson does not take (1e400, deep nesting) names no session we can
                # read; the body still goes upstream, which has the last word on it.
                return None
        return session_of(None, {"metadata": metadata})


def parse_request(body: bytes) -> ParsedRequest:
    """What we read of a Messages request; anything else in the body is not our business.

    The body is validated as JSON in full, but only ``model``, ``stream`` and ``metadata`` become
    Python objects: a Claude Code body is 50 KB and more, and building all of it (orjson) cost a
    tenth of proxy-core's time per request. A body msgspec refuses is read again by orjson, which
    decides and words the error (msgspec says "Input data was truncated" of a lone surrogate).
    """
    try:
        if not body.isascii():
            body.decode("utf-8")  # JSON is UTF-8; the decoder does not check strings it skips
        head = _read_head(body)
    except UnicodeDecodeError as exc:
        # Said plainly: a compressed body would otherwise read as a puzzle about surrogates.
        raise InvalidRequest(
            f"request body is not valid JSON: it is not UTF-8 (byte 0x{body[exc.start]:02x} at "
            f"offset {exc.start}); is it compressed?"
        ) from None
    except (msgspec.DecodeError, RecursionError):
        return _parse_in_full(body)
    return _checked(head.model, head.stream, bytes(head.metadata) or None)


def _parse_in_full(body: bytes) -> ParsedRequest:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("request body must be a JSON object")
    return _checked(payload.get("model"), payload.get("stream"), payload.get("metadata"))


def _checked(model: object, stream: object, metadata: object) -> ParsedRequest:
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: field required (a non-empty string)")
    return ParsedRequest(model, stream is True, metadata)


class DisconnectWatch:
    """Cancels the request's task when the client goes away, so the upstream is closed at once.

    The request body is read in full first, so the next ASGI message can only be a disconnect.
    """

    __slots__ = ("_done", "_target", "_task", "fired")

    def __init__(self, receive: Receive) -> None:
        self.fired = False
        self._done = False
        self._target = asyncio.current_task()
        self._task: asyncio.Task[None] = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self._done and self._target is not None:
            self.fired = True
            self._target.cancel()

    def stop(self) -> None:
        self._done = True
        self._task.cancel()


async def open_upstream(
    session: aiohttp.ClientSession,
    provider: ProviderConfig,
    url: str,
    headers: dict[str, str],
    body: bytes,
    egress: Egress = DIRECT,
) -> aiohttp.ClientResponse:
    """Send the request; map failures to reach the provider onto 502 / 504."""
    sent = {**headers, **egress.request_headers} if egress.request_headers else headers
    try:
        # A redirect goes back to the client as it came: followed here, it would carry the
        # x-api-key to whatever host the Location names (aiohttp strips only Authorization) and
        # a 302/303 would turn the POST into a bodiless GET.
        return await session.post(
            URL(url, encoded=True),
            data=body,
            headers=sent,
            allow_redirects=False,
            proxy=egress.proxy,
            proxy_headers=egress.connect_headers,
        )
    except ValueError:
        # aiohttp refuses to write a header value with a control character in it, before
        # anything is sent. One of the client's headers: the client's error. (Provider keys are
        # checked when the configuration loads; anything else stays an internal error.)
        name = control_character_header(headers)
        if name is None:
            raise
        raise InvalidRequest(
            f"header {name}: control characters are not allowed in header values"
        ) from None
    except TimeoutError:
        raise UpstreamTimeout(
            f"provider {provider.name} did not answer in time ({url}){_via(egress)}"
        ) from None
    except aiohttp.ClientError as exc:
        via = _via(egress)
        raise UpstreamUnreachable(
            f"provider {provider.name} is unreachable at {provider.base_url}{via}: {exc}"
        ) from None


def _via(egress: Egress) -> str:
    return f" through the proxy {egress.proxy}" if egress.proxy is not None else ""


async def send_error(send: Send, exc: ApiError, request_id: str) -> None:
    body = error_body(exc.error_type, exc.message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID_HEADER, request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def plan(core: CoreState, record: RequestRecord, body: bytes) -> tuple[ProviderConfig, str]:
    """Check the body, choose the provider, and note both on the record; (provider, URL)."""
    record.request_body = body
    record.request_bytes = len(body)
    parsed = parse_request(body)
    record.model_requested, record.stream = parsed.model, parsed.stream
    if not record.session_id:
        record.session_id = parsed.body_session
    provider, route, decision = choose_provider(core.config, record.model_requested)
    record.provider, record.route, record.route_decision = provider.name, route, decision
    record.upstream_url = upstream_url(provider, record.path)
    query = f"?{record.query}" if record.query else ""
    return provider, record.upstream_url + query


async def proxy_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    core: CoreState = scope["state"]["core"]
    exchange = Exchange(core, scope)
    record = exchange.record
    watch: DisconnectWatch | None = None
    try:
        body = await read_body(
            receive,
            record.request_headers.get("content-length"),
            int(core.config["proxy.max_body_size"]),
        )
        provider, url = plan(core, record, body)
        watch = DisconnectWatch(receive)
        response = await open_upstream(
            core.session_for(provider),
            provider,
            url,
            upstream_headers(record.request_headers, provider),
            body,
            core.egress_for(provider),
        )
        await relay(response, send, exchange)
    except ApiError as exc:
        if exc.status >= 500:
            log.warning("request %s: %s", record.id, exc.message)
        exchange.finish(
            STATUS_PROXY_ERROR,
            http_status=exc.status,
            error_type=exc.error_type,
            error_message=exc.message,
        )
        await send_error(send, exc, record.id)
    except ClientGone:
        exchange.finish(STATUS_CLIENT_CLOSED)
    except asyncio.CancelledError:
        if watch is None or not watch.fired:
            exchange.finish(
                STATUS_PROXY_ERROR,
                error_type="cancelled",
                error_message="the server cancelled the request (shutting down?)",
            )
            raise
        # We cancelled ourselves because the client left: that ends the request, not the server.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        exchange.finish(STATUS_CLIENT_CLOSED)
    finally:
        if watch is not None:
            watch.stop()
        # A bug must still leave a record (and free the in-flight slot); normal paths finished.
        exchange.finish(
            STATUS_PROXY_ERROR,
            # The error handler answers the exception on its way with a 500, unless the
            # response had started (the upstream's status is then what the client saw).
            http_status=None if exchange.response_started else 500,
            error_type="internal_error",
            error_message="request ended without a final status",
        )


class ProxyEndpoint:
    """The ASGI app Starlette's router calls for the proxied paths (a class, so the router
    passes scope/receive/send through instead of wrapping it in a Request handler)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await proxy_endpoint(scope, receive, send)
