"""One proxied request from arrival to its single final record.

``finish`` is idempotent: whichever path ends the request first (normal end, error, client
disconnect, cancellation) writes the record; later calls are no-ops. That is how every request
gets exactly one final record even when Starlette or hypercorn cancels us mid-stream.
"""

from __future__ import annotations

import base64
import os
import time
from typing import TYPE_CHECKING

from starlette.types import Scope

from ccp_core.headers import header_dict
from ccp_core.summary import ResponseSummary
from ccp_shared.records import RequestRecord

if TYPE_CHECKING:
    from ccp_core.state import CoreState
    from ccp_core.stream import Tee

SESSION_HEADER = "x-claude-code-session-id"
AGENT_HEADER = "x-claude-code-agent-id"


def new_request_id() -> str:
    # Time-ordered prefix (ms) + randomness: sortable in the database, unique across processes.
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class Exchange:
    __slots__ = ("_core", "finished", "record", "response_started", "started", "tee", "upstream_at")

    def __init__(self, core: CoreState, scope: Scope) -> None:
        self._core = core
        self.started = time.perf_counter()
        self.finished = False
        # Whether the client has the response's head: from then on, what it sees is the upstream's
        # status, whatever happens to the body.
        self.response_started = False
        self.tee: Tee | None = None
        self.upstream_at: float | None = None
        received = header_dict(scope["headers"])
        query = scope.get("query_string", b"")
        self.record = RequestRecord(
            id=new_request_id(),
            ts_start=time.time(),
            method=str(scope.get("method", "POST")),
            path=str(scope.get("path", "")),
            query=query.decode("latin-1") if isinstance(query, bytes) else "",
            session_id=received.get(SESSION_HEADER),
            agent_id=received.get(AGENT_HEADER),
            client=received.get("user-agent"),
            request_headers=received,
        )
        core.metrics.in_flight += 1

    def upstream_answered(self, status: int, headers: dict[str, str]) -> None:
        self.upstream_at = time.perf_counter()
        self.record.http_status = status
        self.record.response_headers = headers
        self._core.metrics.upstream_latency.observe(self.upstream_at - self.started)

    def finish(
        self,
        status: str,
        *,
        http_status: int | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """Write the final record; False when an earlier path already did."""
        if self.finished:
            return False
        self.finished = True
        record = self.record
        record.status = status
        try:
            self._gather(status, http_status)
        finally:
            # Even if gathering the facts failed, the request keeps its record (with what was
            # gathered) and frees its in-flight slot; the failure itself still propagates.
            if error_type is not None:
                record.error_type = error_type
                record.error_message = error_message
            self._core.metrics.in_flight -= 1
            self._core.recorder.submit(record)
        return True

    def _gather(self, status: str, http_status: int | None) -> None:
        ended = time.perf_counter()
        record = self.record
        record.ts_end = record.ts_start + (ended - self.started)
        record.duration_ms = (ended - self.started) * 1000.0
        if http_status is not None:
            record.http_status = http_status
        if self.tee is not None:
            self._apply_tee(self.tee)
        metrics = self._core.metrics
        metrics.count_request(status, record.model or record.model_requested)
        metrics.duration.observe(ended - self.started)
        if record.ttft_ms is not None:
            metrics.ttft.observe(record.ttft_ms / 1000.0)

    def _apply_tee(self, tee: Tee) -> None:
        record = self.record
        summary: ResponseSummary = tee.finish()
        record.response_bytes = tee.size
        if tee.undecoded is None:
            record.response_body = tee.body()
        else:
            # Bodies are stored as text: base64 keeps undecodable wire bytes whole, and the route
            # decision says so (no schema change for a rare case).
            record.response_body = base64.b64encode(tee.body()).decode("ascii")
            record.route_decision = {
                **(record.route_decision or {}),
                "response_body": {
                    "stored_as": "base64",
                    "content_encoding": tee.content_encoding,
                    "reason": tee.undecoded,
                },
            }
        if tee.first_delta_at is not None:
            record.ttft_ms = (tee.first_delta_at - self.started) * 1000.0
        record.model = summary.model
        record.input_tokens = summary.input_tokens
        record.output_tokens = summary.output_tokens
        record.cache_creation_input_tokens = summary.cache_creation_input_tokens
        record.cache_read_input_tokens = summary.cache_read_input_tokens
        record.cache_creation_5m_tokens = summary.cache_creation_5m_tokens
        record.cache_creation_1h_tokens = summary.cache_creation_1h_tokens
        record.stop_reason = summary.stop_reason
        record.error_type = summary.error_type
        record.error_message = summary.error_message
