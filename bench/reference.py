"""The yardstick: a bare Starlette + hypercorn passthrough using aiohttp's client directly.

This is the passthrough the proxy-core issue gives its evidence for (≈ 1,330 streamed req/s at
32 connections with the 50 KB body, measured on this machine when the targets were set): no
checks, no tee, no recording, only the headers a proxy must drop. `make bench` runs it in the
same run as proxy-core, so each run says how fast the machine was against the one the targets
were set on: the figures of this VM move by a third between its fast and slow moments.

    python -m bench.reference --port 8081 --upstream http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ccp_core.headers import HOP_BY_HOP  # hop-by-hop, plus host and content-length
from ccp_shared.serve import serve


def create_app(upstream: str) -> Starlette:
    session: aiohttp.ClientSession | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal session
        # Set up as proxy-core's client is (ccp_core.app.client_session), so neither pays for
        # work the other skips: no total timeout, no cookie jar, no headers of its own.
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )
        try:
            yield
        finally:
            await session.close()

    async def messages(request: Request) -> Response:
        assert session is not None
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k not in HOP_BY_HOP}
        query = f"?{request.url.query}" if request.url.query else ""
        upstream_response = await session.post(
            upstream + request.url.path + query, data=body, headers=headers
        )

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream_response.content.iter_any():
                    yield chunk
            finally:
                upstream_response.release()

        returned = {
            k: v for k, v in upstream_response.headers.items() if k.lower() not in HOP_BY_HOP
        }
        return StreamingResponse(chunks(), upstream_response.status, returned)

    async def health(request: Request) -> Response:
        return Response(b"ok")

    routes = [
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the fake upstream")
    args = parser.parse_args(argv)
    serve(
        create_app(args.upstream.rstrip("/")),
        host="127.0.0.1",
        port=args.port,
        graceful_timeout=1.0,
        log_level="WARNING",
        server_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
