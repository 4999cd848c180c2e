"""proxy-data as a real process: start-up checks, health, shutdown, rollup freshness."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ccp_shared.migrate import upgrade
from tests.integration.stack import BIN, REPO, Service, clean_environ, free_ports
from tests.support.polling import wait_until
from tests.support.usage import usage_record, write

pytestmark = pytest.mark.integration


def data_env(data_dir: Path, port: int) -> dict[str, str]:
    return {**clean_environ(), "DATA_DIR": str(data_dir), "CCP_DATA_PORT": str(port)}


@pytest.fixture
def data_service(data_dir: Path) -> Iterator[Service]:
    port = free_ports(1)[0]
    service = Service(
        "proxy-data",
        [str(BIN / "proxy-data")],
        data_env(data_dir, port),
        data_dir / "logs" / "data.log",
        f"http://127.0.0.1:{port}/health",
    )
    try:
        yield service.start().wait_healthy()
    finally:
        service.stop()


def run_data(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "proxy-data"), "--port", str(free_ports(1)[0])],
        env=data_env(data_dir, 1),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_refuses_a_missing_or_behind_database_saying_how_to_fix_it(tmp_path: Path) -> None:
    missing = run_data(tmp_path / "nothing-here")
    assert missing.returncode == 2
    assert "mkdir -p" in missing.stderr and "ccp db upgrade" in missing.stderr

    behind = tmp_path / "behind"
    upgrade(behind / "ccp.db", "0001")
    result = run_data(behind)
    assert result.returncode == 2
    assert "revision 0001" in result.stderr and "ccp db upgrade" in result.stderr


def test_health_and_its_alias(data_service: Service, data_dir: Path) -> None:
    base = data_service.health_url.rsplit("/", 1)[0]
    health = httpx.get(f"{base}/health").json()
    alias = httpx.get(f"{base}/api/health").json()
    assert health["service"] == alias["service"] == "proxy-data"
    assert health["database"] == alias["database"]
    assert health["database"]["path"] == str(data_dir / "ccp.db")
    assert health["indexer"]["status"] == "running"


def test_a_written_request_reaches_the_stats(data_service: Service, data_dir: Path) -> None:
    base = data_service.health_url.rsplit("/", 1)[0]
    write(data_dir / "ccp.db", [usage_record(time.time(), output_tokens=4321)])

    def rolled_up() -> bool:
        totals = httpx.get(f"{base}/api/stats").json()["totals"]
        return bool(totals["output_tokens"] == 4321)

    # Eventual behaviour only: the 2 s target is measured by test_data_freshness.py.
    wait_until(rolled_up, 10.0, "the request in /api/stats")


def test_sigterm_stops_it_cleanly(data_service: Service) -> None:
    assert data_service.stop(signal.SIGTERM, timeout=15) == 0
    assert "Traceback" not in data_service.log_text()
