"""A real proxy-core process in front of an in-thread fake upstream, for integration tests."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.integration.stack import Service, clean_environ, free_ports
from tests.support.polling import wait_until

PROXY_CORE = Path(sys.executable).parent / "proxy-core"


@contextmanager
def running_core(
    data_dir: Path, upstream_url: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[Service]:
    port = free_ports(1)[0]
    environ = clean_environ()
    environ.update(CCP_PROVIDERS__ANTHROPIC__BASE_URL=upstream_url, PYTHONUNBUFFERED="1")
    environ.update(env or {})
    service = Service(
        name="proxy-core",
        argv=[str(PROXY_CORE), "--port", str(port), "--data-dir", str(data_dir), *args],
        env=environ,
        log_path=data_dir.parent / "proxy-core.log",
        health_url=f"http://127.0.0.1:{port}/health",
    )
    service.start()
    try:
        service.wait_healthy()
        yield service
    finally:
        service.stop()


def base_url(service: Service) -> str:
    return service.health_url.removesuffix("/health")


def fetch_record(db_path: Path, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """The ``requests`` row of ``request_id`` once the writer has committed it."""

    def probe() -> dict[str, Any] | None:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        finally:
            conn.close()
        return dict(row) if row is not None else None

    return wait_until(probe, timeout, f"record {request_id} in {db_path}")
