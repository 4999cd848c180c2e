"""proxy-core as a real process (hypercorn + uvloop): streaming, disconnects, shutdown, start-up."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.core_process import PROXY_CORE, base_url, fetch_record, running_core
from tests.integration.stack import Service, clean_environ
from tests.support.fake_upstream import FakeUpstream
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

HEADERS = {"x-api-key": "sk-ant-test-0000", "anthropic-version": "2023-06-01"}
STREAM_BODY = b'{"model": "claude-opus-5-5", "stream": true, "max_tokens": 50, "messages": []}'


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def core(data_dir: Path, upstream: FakeUpstream) -> Iterator[Service]:
    with running_core(data_dir, upstream.url) as service:
        yield service


def test_each_chunk_is_flushed_as_it_arrives(core: Service, data_dir: Path) -> None:
    headers = {**HEADERS, "x-fake-pace-ms": "150", "x-fake-events": "6"}
    arrivals: list[tuple[float, bytes]] = []
    started = time.monotonic()
    with httpx.stream(
        "POST", f"{base_url(core)}/v1/messages", content=STREAM_BODY, headers=headers
    ) as response:
        for chunk in response.iter_raw():
            arrivals.append((time.monotonic() - started, chunk))
        request_id = response.headers["ccp-request-id"]
    total = arrivals[-1][0]
    first_start = next(t for t, chunk in arrivals if b"message_start" in chunk)
    # ~10 events 150 ms apart: buffering anywhere would deliver message_start at the very end.
    assert total > 1.0
    assert first_start < total - 0.8
    assert len(arrivals) >= 8
    row = fetch_record(data_dir / "ccp.db", request_id)
    assert row["status"] == "ok" and row["output_tokens"] == 6
    assert 100 <= row["ttft_ms"] < row["duration_ms"]


def test_client_disconnect_closes_upstream_and_records_client_closed(
    core: Service, upstream: FakeUpstream, data_dir: Path
) -> None:
    headers = {**HEADERS, "x-fake-mode": "stall"}
    with httpx.stream(
        "POST", f"{base_url(core)}/v1/messages", content=STREAM_BODY, headers=headers
    ) as response:
        request_id = response.headers["ccp-request-id"]
        for chunk in response.iter_raw():
            if b"message_start" in chunk:
                break
    closed_at = time.monotonic()
    # The upstream must see its connection closed (tokens stop) within a second.
    assert upstream.wait_for(lambda up: up.aborted >= 1, timeout=1.0)
    assert time.monotonic() - closed_at < 1.0
    row = fetch_record(data_dir / "ccp.db", request_id)
    assert row["status"] == "client_closed"
    assert row["input_tokens"] is not None  # usage seen before the disconnect is kept
    assert row["output_tokens"] == 1


def test_upstream_cut_mid_stream_reaches_the_client_as_an_error(
    core: Service, data_dir: Path
) -> None:
    headers = {**HEADERS, "x-fake-mode": "disconnect"}
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", f"{base_url(core)}/v1/messages", content=STREAM_BODY, headers=headers
        ) as response,
    ):
        request_id = response.headers["ccp-request-id"]
        response.read()
    row = fetch_record(data_dir / "ccp.db", request_id)
    assert row["status"] == "upstream_error" and row["error_type"] == "upstream_disconnected"


def test_sigterm_lets_an_in_flight_stream_finish(core: Service, data_dir: Path) -> None:
    headers = {**HEADERS, "x-fake-pace-ms": "100", "x-fake-events": "8"}
    with httpx.stream(
        "POST", f"{base_url(core)}/v1/messages", content=STREAM_BODY, headers=headers
    ) as response:
        request_id = response.headers["ccp-request-id"]
        chunks = response.iter_raw()
        first = next(chunks)
        assert core.proc is not None
        core.proc.send_signal(signal.SIGTERM)
        rest = b"".join(chunks)
    assert b"message_start" in first and b"message_stop" in rest
    assert core.proc.wait(20) == 0
    row = fetch_record(data_dir / "ccp.db", request_id)
    assert row["status"] == "ok"


def test_the_database_keeps_the_records_shape(core: Service, data_dir: Path) -> None:
    response = httpx.post(
        f"{base_url(core)}/v1/messages?beta=true",
        content=b'{"model": "claude-haiku-4-5", "max_tokens": 1, "messages": []}',
        headers={**HEADERS, "x-claude-code-session-id": "sess-1", "user-agent": "claude-cli/2"},
    )
    row = fetch_record(data_dir / "ccp.db", response.headers["ccp-request-id"])
    assert row["session_id"] == "sess-1" and row["client"] == "claude-cli/2"
    assert row["query"] == "beta=true" and row["stream"] == 0
    assert row["model"] == "claude-haiku-4-5" and row["http_status"] == 200
    assert row["key_hash"]  # the recorder hashed the credential


def test_lite_mode_writes_jsonl_and_no_database(tmp_path: Path, upstream: FakeUpstream) -> None:
    data_dir = tmp_path / "lite"
    data_dir.mkdir()
    with running_core(data_dir, upstream.url, "--lite") as service:
        response = httpx.post(
            f"{base_url(service)}/v1/messages", content=STREAM_BODY, headers=HEADERS
        )
        request_id = response.headers["ccp-request-id"]

        def written() -> bool:
            return any(request_id in p.read_text() for p in (data_dir / "records").glob("*.jsonl"))

        wait_until(written, 5, "the lite record")
        assert httpx.get(service.health_url).json()["database"]["status"] == "disabled"
    assert not (data_dir / "ccp.db").exists()


def run_core(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROXY_CORE), *args],
        env={**clean_environ(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("proxy-core: "), result.stderr
    for text in expected:
        assert text in lines[0]


def test_refuses_an_unknown_log_level_in_one_line(
    data_dir: Path, get_free_port: Callable[[], int]
) -> None:
    port = str(get_free_port())
    result = run_core("--data-dir", str(data_dir), "--port", port, env={"CCP_LOG_LEVEL": "verbose"})
    assert_one_line_error(result, "log_level", "'verbose'")


def test_refuses_a_damaged_hash_key_file_in_one_line(
    data_dir: Path, get_free_port: Callable[[], int]
) -> None:
    (data_dir / "hash.key").write_text("not hex at all\n")
    result = run_core("--data-dir", str(data_dir), "--port", str(get_free_port()))
    assert_one_line_error(result, "hash.key", "restore it or delete it")


def test_refuses_to_start_without_a_migrated_database(tmp_path: Path) -> None:
    result = run_core("--data-dir", str(tmp_path), "--port", "1")
    assert result.returncode == 2
    assert "ccp db upgrade" in result.stderr


def test_refuses_to_start_when_the_database_directory_is_missing(tmp_path: Path) -> None:
    result = run_core("--db-path", str(tmp_path / "nope" / "ccp.db"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and str(tmp_path / "nope") in result.stderr


def test_starts_and_records_on_a_database_a_newer_release_upgraded(
    data_dir: Path, upstream: FakeUpstream
) -> None:
    # proxy-data may be upgraded (with `ccp db upgrade`) while proxy-core keeps running the
    # older release: core must keep starting and recording as long as its tables are there.
    db_path = data_dir / "ccp.db"
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with running_core(data_dir, upstream.url) as service:
        response = httpx.post(
            f"{base_url(service)}/v1/messages",
            content=b'{"model": "claude-haiku-4-5", "max_tokens": 1, "messages": []}',
            headers=HEADERS,
        )
        assert response.status_code == 200
        row = fetch_record(db_path, response.headers["ccp-request-id"])
        assert row["status"] == "ok"
        assert httpx.get(service.health_url).json()["database"]["status"] == "ok"
