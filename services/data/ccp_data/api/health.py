"""``/health`` (= ``/api/health``) and ``/metrics``.

Health is 503 when the database cannot be read or the indexer has died (DESIGN §2), "degraded"
when something recoverable is wrong (the maintenance thread reports an error).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ccp_data import __version__
from ccp_data.errors import ApiError
from ccp_data.jsonresponse import ORJSONResponse
from ccp_data.metrics import CONTENT_TYPE
from ccp_data.rollups import WATERMARK_NAME

INDEXER_DEAD = "failed"


def _probe(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM requests), (SELECT max(seq) FROM requests), "
        "(SELECT count(*) FROM rollups), (SELECT seq FROM indexer_state WHERE name = ?)",
        (WATERMARK_NAME,),
    ).fetchone()
    return {
        "requests": row[0],
        "rollup_rows": row[2],
        "rollup_lag": max(0, (row[1] or 0) - (row[3] or 0)),
    }


async def _database(request: Request) -> tuple[str, dict[str, Any]]:
    try:
        return "ok", await request.app.state.db.read(_probe)
    except ApiError as exc:
        return f"unavailable: {exc.message}", {}


async def health(request: Request) -> Response:
    state = request.app.state
    db_status, _ = await _database(request)
    indexer = state.indexer.status()
    maintenance = state.maintenance.status()
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


def _gauge(name: str, help_text: str, value: float | int | None) -> list[str]:
    if value is None:
        return []
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]


async def metrics(request: Request) -> Response:
    state = request.app.state
    _, rows = await _database(request)
    indexer = state.indexer.status()
    maintenance = state.maintenance.status()
    lines = [
        *_gauge("ccp_data_up", "1 when the database can be read.", 1 if rows else 0),
        *_gauge("ccp_data_requests_rows", "Rows in the requests table.", rows.get("requests")),
        *_gauge("ccp_data_rollup_rows", "Rows in the rollups table.", rows.get("rollup_rows")),
        *_gauge(
            "ccp_data_indexer_lag_seconds",
            "Age of the oldest request not yet indexed.",
            indexer.get("lag_seconds"),
        ),
        *_gauge(
            "ccp_data_indexer_conversations",
            "Conversations indexed.",
            indexer.get("conversations_indexed"),
        ),
        *_gauge(
            "ccp_data_indexer_watermark", "Last requests.seq indexed.", indexer.get("watermark")
        ),
        *_gauge(
            "ccp_data_rollup_lag_requests",
            "Requests not yet rolled up.",
            rows.get("rollup_lag"),
        ),
        *_gauge("ccp_data_wal_bytes", "Size of the WAL file.", maintenance.get("wal_bytes")),
        *state.metrics.render(),
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type=CONTENT_TYPE)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/api/health", health, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
