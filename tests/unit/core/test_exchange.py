from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ccp_core.catalogue import Catalogue
from ccp_core.exchange import Exchange, new_request_id
from ccp_core.state import CoreState
from ccp_shared.config import load_config
from tests.support.fake_recorder import FakeRecorder


def make_core(tmp_path: Path) -> tuple[CoreState, FakeRecorder]:
    recorder = FakeRecorder()
    config = load_config(environ={"DATA_DIR": str(tmp_path)}, config_file=None)
    return CoreState(config=config, recorder=recorder, catalogue=Catalogue([])), recorder


SCOPE: dict[str, Any] = {
    "method": "POST",
    "path": "/v1/messages",
    "query_string": b"beta=true",
    "headers": [
        (b"x-claude-code-session-id", b"sess"),
        (b"x-claude-code-agent-id", b"agent-7"),
        (b"user-agent", b"claude-cli/2.1.328 (external, cli)"),
        (b"x-api-key", b"sk-raw"),
    ],
}


def test_request_facts_come_from_the_scope(tmp_path: Path) -> None:
    core, _ = make_core(tmp_path)
    record = Exchange(core, SCOPE).record
    assert (record.session_id, record.agent_id) == ("sess", "agent-7")
    assert record.client == "claude-cli/2.1.328 (external, cli)"
    assert (record.path, record.query) == ("/v1/messages", "beta=true")
    assert record.request_headers["x-api-key"] == "sk-raw"


def test_finish_writes_exactly_one_record_whatever_path_comes_second(tmp_path: Path) -> None:
    core, recorder = make_core(tmp_path)
    exchange = Exchange(core, SCOPE)
    assert core.metrics.in_flight == 1
    assert exchange.finish("client_closed") is True
    assert exchange.finish("proxy_error", error_type="internal_error") is False
    assert [r.status for r in recorder.records] == ["client_closed"]
    assert recorder.records[0].error_type is None
    assert core.metrics.in_flight == 0
    record = recorder.records[0]
    assert record.ts_end is not None and record.duration_ms is not None
    assert record.ts_end >= record.ts_start and record.duration_ms >= 0


class BrokenTee:
    """A tee whose facts cannot be gathered (a bug, or memory running out)."""

    size = 0

    def finish(self) -> None:
        raise RuntimeError("cannot summarise")


def test_a_failure_while_finishing_still_writes_the_one_record(tmp_path: Path) -> None:
    core, recorder = make_core(tmp_path)
    exchange = Exchange(core, SCOPE)
    exchange.tee = BrokenTee()  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="cannot summarise"):
        exchange.finish("upstream_error", error_type="upstream_disconnected", error_message="cut")
    assert exchange.finish("proxy_error", error_type="internal_error") is False
    assert len(recorder.records) == 1
    record = recorder.records[0]
    assert (record.status, record.error_type) == ("upstream_error", "upstream_disconnected")
    assert core.metrics.in_flight == 0


def test_request_ids_are_unique_and_time_ordered() -> None:
    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)
