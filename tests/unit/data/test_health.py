from __future__ import annotations

from pathlib import Path
from typing import Any

from ccp_data import __version__
from tests.support.data_app import data_client, roll_up
from tests.support.usage import usage_record, write


class FailedIndexer:
    def status(self) -> dict[str, Any]:
        return {
            "status": "failed",
            "last_run": 1.0,
            "conversations_indexed": 3,
            "lag_seconds": 12.5,
            "error": "DatabaseError: malformed",
        }


def test_health_body_and_alias(data_dir: Path) -> None:
    with data_client(data_dir) as client:
        response = client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["service"] == "proxy-data"
        assert body["version"] == __version__
        assert body["database"] == {"status": "ok", "path": str(data_dir / "ccp.db")}
        expected = {"status", "last_run", "conversations_indexed", "lag_seconds"}
        assert set(body["indexer"]) >= expected
        assert client.get("/api/health").json() == body


def test_a_dead_indexer_is_503_and_says_why(data_dir: Path) -> None:
    with data_client(data_dir) as client:
        client.app.state.indexer = FailedIndexer()
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["indexer"]["status"] == "failed"
    assert "malformed" in body["indexer"]["error"]


def test_an_unreadable_database_is_503(data_dir: Path) -> None:
    with data_client(data_dir) as client:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{data_dir / 'ccp.db'}{suffix}").unlink(missing_ok=True)
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["database"]["status"].startswith("unavailable")
        # The data APIs answer in the envelope too, never with a traceback.
        stats = client.get("/api/stats")
        assert stats.status_code == 503
        assert stats.json()["type"] == "error"


def test_metrics_expose_rows_lag_and_api_latency(data_dir: Path) -> None:
    write(data_dir / "ccp.db", [usage_record(1_767_225_600.0), usage_record(1_767_225_601.0)])
    roll_up(data_dir / "ccp.db")
    with data_client(data_dir) as client:
        client.get("/api/stats")
        client.get("/api/requests/does-not-exist")
        text = client.get("/metrics").text
    assert "ccp_data_requests_rows 2" in text
    assert "ccp_data_rollup_lag_requests 0" in text
    assert "ccp_data_indexer_lag_seconds" in text
    assert 'ccp_data_api_request_duration_seconds_count{route="/api/stats",status="2xx"} 1' in text
    assert 'route="/api/requests/{request_id}",status="4xx"' in text


def test_index_lists_the_api(data_dir: Path) -> None:
    with data_client(data_dir) as client:
        body = client.get("/").json()
    assert body["service"] == "proxy-data"
    assert "/api/stats" in body["endpoints"]
