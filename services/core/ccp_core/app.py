"""The proxy-core application: routes, error mapping and the lifespan that owns resources."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccp_core.catalogue import Catalogue, list_models, read_pricing_file, retrieve_model
from ccp_core.egress import DIRECT, Egress, egress_for
from ccp_core.errors import from_http_exception
from ccp_core.exchange import Exchange
from ccp_core.forward import ProxyEndpoint
from ccp_core.headers import REQUEST_ID_HEADER
from ccp_core.health import health, metrics
from ccp_core.recorder import open_recorder
from ccp_core.state import CoreState, RecorderLike
from ccp_shared.config import Config
from ccp_shared.error_responses import error_response
from ccp_shared.errors import ApiError, InternalError
from ccp_shared.records import STATUS_PROXY_ERROR

RecorderFactory = Callable[[Config], RecorderLike]

log = logging.getLogger(__name__)


def client_session(config: Config, egress: Egress = DIRECT) -> aiohttp.ClientSession:
    """One pooled HTTP client per provider, passing bytes through as they come."""
    connect_timeout = float(config["proxy.connect_timeout"])
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        # No total timeout: a long stream is healthy as long as bytes keep arriving.
        timeout=aiohttp.ClientTimeout(
            total=None,
            # Through a proxy the connection is only up once the proxy has answered CONNECT,
            # which sock_connect (the TCP connect) does not cover. Set only then: it costs a
            # timer on every request, pooled connection or not.
            connect=connect_timeout if egress.proxy is not None else None,
            sock_connect=connect_timeout,
            sock_read=float(config["proxy.idle_timeout"]),
        ),
        auto_decompress=False,
        # A gateway keeps no cookies: a jar would send the Set-Cookie one client got (Cloudflare
        # sets them on api.anthropic.com) on every other client's requests. Both headers still
        # pass through end to end.
        cookie_jar=aiohttp.DummyCookieJar(),
        # Send only what the client sent: an Accept-Encoding the client never offered would
        # bring back bytes it cannot read.
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown path or wrong method: an Anthropic-shaped error, recorded like any request."""
    assert isinstance(exc, HTTPException)
    error = from_http_exception(exc, request)
    headers = dict(exc.headers or {})
    core: CoreState | None = getattr(request.state, "core", None)
    if core is not None:
        exchange = Exchange(core, request.scope)
        exchange.finish(
            STATUS_PROXY_ERROR,
            http_status=error.status,
            error_type=error.error_type,
            error_message=error.message,
        )
        headers[REQUEST_ID_HEADER.decode()] = exchange.record.id
    return error_response(error, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(InternalError(f"internal error in proxy-core: {type(exc).__name__}"))


async def _probe(request: Request) -> Response:
    return Response(status_code=200)


async def _telemetry(request: Request) -> Response:
    # Claude Code's own telemetry, should it be pointed at proxy-core directly (Caddy answers it
    # in the full stack): accepted and dropped, so it neither fails nor pollutes the records.
    return Response(status_code=204)


def create_app(
    config: Config,
    recorder_factory: RecorderFactory = open_recorder,
    environ: Mapping[str, str] = os.environ,
) -> Starlette:
    """The app; ConfigError for a forward proxy in ``environ`` (HTTPS_PROXY …) it cannot use."""
    catalogue = Catalogue.build(read_pricing_file(), extra_ids=config.pricing.keys())
    egress = {name: egress_for(p.base_url, environ) for name, p in config.providers.items()}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        recorder = recorder_factory(config)
        recorder.start()
        core = CoreState(config=config, recorder=recorder, catalogue=catalogue, egress=egress)
        core.sessions = {name: client_session(config, egress[name]) for name in config.providers}
        for name, way in egress.items():
            if way.proxy is not None:
                log.info("provider %s is reached through the proxy %s", name, way.proxy)
        try:
            yield {"core": core}
        finally:
            for session in core.sessions.values():
                await session.close()
            # stop() joins the writer thread after its last flush: keep the loop free meanwhile.
            await asyncio.to_thread(recorder.stop, float(config["proxy.shutdown_grace"]))

    proxy = ProxyEndpoint()
    routes = [
        Route("/v1/messages", proxy, methods=["POST"]),
        Route("/v1/messages/count_tokens", proxy, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id}", retrieve_model, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/v1/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/", _probe, methods=["HEAD"]),
        Route("/api/event_logging/{rest:path}", _telemetry, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: _http_error,
            ApiError: _api_error,
            Exception: _internal_error,
        },
    )
    # A trailing slash is another path, answered 404 in our shape and recorded like any unknown
    # path; Starlette's default, a 307 to the slashless path, would be neither.
    app.router.redirect_slashes = False
    return app
