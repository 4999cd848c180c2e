"""The bench's yardstick passthrough, run as the bench runs it: its own process, real streams."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from bench import loadgen
from bench.procs import start_reference, stop
from tests.support.fake_upstream import FakeUpstream


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream(events=4) as server:
        yield server


def test_the_reference_passes_streams_and_their_requests_through(
    up: FakeUpstream, tmp_path: Path
) -> None:
    body = orjson.dumps({"model": "claude-test-1", "stream": True, "messages": []})
    body_file = tmp_path / "body.json"
    body_file.write_bytes(body)
    reference, url = start_reference(tmp_path / "logs", up.url)
    try:
        spec = {
            "url": url + "/v1/messages?beta=true",
            "body_file": str(body_file),
            "headers": {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"},
            "requests": 3,
            "connections": 1,
        }
        result = asyncio.run(loadgen.run(spec))
    finally:
        stop(reference.proc)
    # Each counts only if it is a 200 whose stream ends with message_stop.
    assert (result["sent"], result["failures"]) == (3, 0), result["errors"]
    received = up.requests[-1]
    assert received.path == "/v1/messages?beta=true"
    assert received.body == body
    assert received.headers["x-api-key"] == "sk-test"
    # Host is the hop's own: the upstream's address, not the reference's.
    assert received.headers["host"] == f"127.0.0.1:{up.port}"
