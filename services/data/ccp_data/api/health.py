"""``/health`` (= ``/api/health``): 503 when the database cannot be read or the indexer has died
(DESIGN §2); "degraded" with 200 when something recoverable is wrong (a rollup pass failing).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccp_data import __version__
from ccp_data.jsonresponse import ORJSONResponse
from ccp_shared.errors import ApiError

INDEXER_DEAD = "failed"


def _ping(conn: sqlite3.Connection) -> None:
    # One index lookup: health is polled often and must stay cheap at any database size.
    conn.execute("SELECT max(seq) FROM requests").fetchone()


async def database_status(request: Request) -> str:
    try:
        await request.app.state.db.read(_ping)
    except ApiError as exc:
        return f"unavailable: {exc.message}"
    return "ok"


async def health(request: Request) -> Response:
    state = request.app.state
    db_status = await database_status(request)
    indexer: dict[str, Any] = state.indexer.status()
    maintenance: dict[str, Any] = state.maintenance.status()
    unhealthy = db_status != "ok" or indexer.get("status") == INDEXER_DEAD
    degraded = unhealthy or maintenance.get("error") is not None
    body = {
        "status": "degraded" if degraded else "ok",
        "service": "proxy-data",
        "version": __version__,
        "database": {"status": db_status, "path": str(state.config.db_path)},
        "indexer": {
            "status": indexer.get("status"),
            "last_run": indexer.get("last_run"),
            "conversations_indexed": indexer.get("conversations_indexed"),
            "lag_seconds": indexer.get("lag_seconds"),
            "error": indexer.get("error"),
        },
        "rollups": {
            "status": maintenance.get("status"),
            "last_run": maintenance.get("last_run"),
            "watermark": maintenance.get("watermark"),
            "error": maintenance.get("error"),
        },
    }
    return ORJSONResponse(body, status_code=503 if unhealthy else 200)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/api/health", health, methods=["GET"]),
]
