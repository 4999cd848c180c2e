"""The proxy-data Starlette app: routes, the one error mapper, and a lifespan owning resources.

The lifespan opens the read pool, starts the indexer and the maintenance thread (rollups, their
retention, WAL checkpoints), and stops them in reverse order. ``background=False`` leaves the
threads out so tests can drive ``run_once`` themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from ccp_data.api import conversations, docs, health, prometheus, requests, stats, usage
from ccp_data.db import ReadPool
from ccp_data.errors import EXCEPTION_HANDLERS
from ccp_data.indexer import Indexer
from ccp_data.maintenance import Maintenance
from ccp_data.metrics import ApiMetrics, LatencyMiddleware
from ccp_data.pricing import load_price_table
from ccp_shared.config import Config

READ_THREADS = 4


def create_app(config: Config, *, background: bool = True) -> Starlette:
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pricing = load_price_table(config.pricing)
        db = ReadPool(
            config.db_path, size=READ_THREADS, busy_timeout=float(config["storage.busy_timeout"])
        )
        indexer = Indexer(config)
        maintenance = Maintenance(config, pricing)
        app.state.config = config
        app.state.pricing = pricing
        app.state.db = db
        app.state.indexer = indexer
        app.state.maintenance = maintenance
        app.state.metrics = metrics
        try:
            if background:
                indexer.start()
                maintenance.start()
            yield
        finally:
            maintenance.stop()
            indexer.stop()
            db.close()

    app = Starlette(
        routes=[
            *docs.routes,
            *health.routes,
            *prometheus.routes,
            *stats.routes,
            *usage.routes,
            *requests.routes,
            *conversations.routes,
        ],
        middleware=[Middleware(LatencyMiddleware, metrics=metrics)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    # A trailing slash is another path, answered 404 in our shape (docs/api.md) as proxy-core
    # does; Starlette's default, a 307 to the slashless path, would be neither.
    app.router.redirect_slashes = False
    return app
