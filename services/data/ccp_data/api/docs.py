"""``/`` (an index of the API until the dashboard lands) and ``/api/openapi.json``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccp_data import __version__
from ccp_data.jsonresponse import ORJSONResponse
from ccp_data.openapi import PATHS, SCHEMA


async def index(request: Request) -> Response:
    return ORJSONResponse(
        {
            "service": "proxy-data",
            "version": __version__,
            "openapi": "/api/openapi.json",
            "endpoints": {path: spec["get"]["summary"] for path, spec in PATHS.items()},
        }
    )


async def openapi(request: Request) -> Response:
    return ORJSONResponse(SCHEMA)


routes = [
    Route("/", index, methods=["GET"]),
    Route("/api/openapi.json", openapi, methods=["GET"]),
]
