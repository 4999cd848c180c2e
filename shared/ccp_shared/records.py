"""The request record: what proxy-core writes for every request, in the database and in JSONL.

One shape serves the database writer, the spool and lite mode's ``records/*.jsonl``, so a spooled
or lite record can be imported later without translation. ``REQUEST_COLUMNS`` lists the columns
of the hot ``requests`` table; ``BODY_COLUMNS`` those of ``request_bodies``, where headers and
bodies live out of the hot table's way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import orjson

STATUS_OK = "ok"
STATUS_UPSTREAM_ERROR = "upstream_error"
STATUS_CLIENT_CLOSED = "client_closed"
STATUS_PROXY_ERROR = "proxy_error"
STATUSES = (STATUS_OK, STATUS_UPSTREAM_ERROR, STATUS_CLIENT_CLOSED, STATUS_PROXY_ERROR)


@dataclass(slots=True)
class RequestRecord:
    id: str
    ts_start: float
    method: str = "POST"
    path: str = "/v1/messages"
    query: str = ""
    ts_end: float | None = None
    session_id: str | None = None
    agent_id: str | None = None
    client: str | None = None
    model_requested: str | None = None
    model: str | None = None
    provider: str | None = None
    route: str | None = None
    stream: bool = False
    status: str = STATUS_PROXY_ERROR
    http_status: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_5m_tokens: int | None = None
    cache_creation_1h_tokens: int | None = None
    stop_reason: str | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    request_bytes: int = 0
    response_bytes: int = 0
    key_hash: str | None = None
    upstream_url: str | None = None
    route_decision: dict[str, Any] | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    # Bodies may be held as bytes in memory (no decoding on the event loop); they are text on disk.
    request_body: str | bytes | None = None
    response_body: str | bytes | None = None

    def to_json(self) -> bytes:
        """One JSONL line (without the newline)."""
        data = asdict(self)
        data["request_body"] = body_text(self.request_body)
        data["response_body"] = body_text(self.response_body)
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, line: bytes | str) -> RequestRecord:
        data = orjson.loads(line)
        if not isinstance(data, dict) or "id" not in data or "ts_start" not in data:
            raise ValueError("not a request record: needs at least id and ts_start")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def body_text(body: str | bytes | None) -> str | None:
    """Bodies are stored as text; bytes that are not UTF-8 are replaced, not lost silently."""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body


BODY_COLUMNS: tuple[str, ...] = (
    "request_id",
    "request_headers",
    "response_headers",
    "request_body",
    "response_body",
    # Set when request_body holds only the difference from another body (ccp_shared.bodies).
    "request_body_base",
    "request_body_prefix",
    "request_body_suffix",
)
_NOT_HOT = {"id", "route_decision", *BODY_COLUMNS[1:]}
REQUEST_COLUMNS: tuple[str, ...] = (
    "id",
    *(f.name for f in fields(RequestRecord) if f.name not in _NOT_HOT),
    "route_decision",
)
