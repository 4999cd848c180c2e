"""``/metrics``: Prometheus text — table sizes, indexer and rollup lag, WAL size, API latency."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ccp_data.metrics import CONTENT_TYPE
from ccp_data.rollups import WATERMARK_NAME
from ccp_shared.errors import ApiError


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
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


def _gauge(name: str, help_text: str, value: float | None) -> list[str]:
    if value is None:
        return []
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]


async def metrics(request: Request) -> Response:
    state = request.app.state
    try:
        counts: dict[str, int] = await state.db.read(_counts)
    except ApiError:
        counts = {}
    indexer: dict[str, Any] = state.indexer.status()
    maintenance: dict[str, Any] = state.maintenance.status()
    lines = [
        *_gauge("ccp_data_up", "1 when the database can be read.", 1 if counts else 0),
        *_gauge("ccp_data_requests_rows", "Rows in the requests table.", counts.get("requests")),
        *_gauge("ccp_data_rollup_rows", "Rows in the rollups table.", counts.get("rollup_rows")),
        *_gauge(
            "ccp_data_rollup_lag_requests", "Requests not yet rolled up.", counts.get("rollup_lag")
        ),
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
        *_gauge("ccp_data_wal_bytes", "Size of the WAL file.", maintenance.get("wal_bytes")),
        *state.metrics.render(),
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type=CONTENT_TYPE)


routes = [Route("/metrics", metrics, methods=["GET"])]
