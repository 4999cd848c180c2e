"""GET /health and GET /metrics: how proxy-core is doing, for people and for Prometheus."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ccp_core import __version__
from ccp_core.metrics import CONTENT_TYPE
from ccp_core.state import CoreState

SERVICE = "proxy-core"


def health_body(core: CoreState) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 503 when the database (persist mode) cannot take writes."""
    config = core.config
    stats = core.recorder.stats()
    pending = int(stats.get("spool_pending", 0))
    database: dict[str, Any]
    if config.persist:
        database_ok = core.recorder.database_ok()
        database = {"status": "ok" if database_ok else "error", "path": str(config.db_path)}
    else:
        database_ok = True
        database = {"status": "disabled", "path": None, "records_dir": str(config.records_dir)}
    status = "ok" if database_ok and pending == 0 else "degraded"
    body = {
        "status": status,
        "service": SERVICE,
        "version": __version__,
        "database": database,
        "providers": {
            name: {"base_url": p.base_url, "format": p.format, "own_key": bool(p.api_key)}
            for name, p in config.providers.items()
        },
        "spool": {"pending": pending},
        "recorder": {k: int(v) for k, v in stats.items()},
        "in_flight": core.metrics.in_flight,
    }
    return (200 if database_ok else 503), body


async def health(request: Request) -> Response:
    status, body = health_body(request.state.core)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def metrics(request: Request) -> Response:
    core: CoreState = request.state.core
    return Response(core.metrics.render(core.recorder.stats()), media_type=CONTENT_TYPE)
