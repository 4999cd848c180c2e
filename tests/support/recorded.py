"""Request records as core stores them, built from the real Claude Code captures.

The captures hold what Claude Code sent; the responses here are written in the wire format the
Anthropic API streams, so the indexer sees exactly what core would record.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson

from ccp_shared.records import STATUS_OK, RequestRecord

_ids = itertools.count(1)


def load_capture(fixtures_dir: Path, name: str) -> Any:
    return orjson.loads(next(fixtures_dir.glob(f"*{name}.json")).read_bytes())


def sse(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(
        f"event: {name}\ndata: {orjson.dumps(data).decode()}\n\n" for name, data in events
    )


def streamed_reply(blocks: list[dict[str, Any]], *, model: str = "claude-opus-5-5") -> str:
    """The SSE stream of an assistant reply made of text, thinking and tool_use blocks."""
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_test",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        )
    ]
    for index, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": part} for part in _halves(block["text"])]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": part} for part in _halves(block["thinking"])
            ]
            deltas.append({"type": "signature_delta", "signature": "sig"})
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            raw = orjson.dumps(block["input"]).decode()
            deltas = [{"type": "input_json_delta", "partial_json": part} for part in _halves(raw)]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 42},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return sse(events)


def _halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


def record(
    body: Any,
    *,
    ts: float,
    response: str | None = None,
    session_id: str | None = None,
    agent_id: str | None = None,
    path: str = "/v1/messages",
    status: str = STATUS_OK,
    request_id: str | None = None,
) -> RequestRecord:
    """A finished request as core records it; ``body`` may be a dict or raw text."""
    raw = body if isinstance(body, str | bytes) else orjson.dumps(body)
    text = raw.decode() if isinstance(raw, bytes) else raw
    model = body.get("model") if isinstance(body, dict) else None
    return RequestRecord(
        id=request_id or f"req_{next(_ids):06d}",
        ts_start=ts,
        ts_end=ts + 1.5,
        path=path,
        query="beta=true",
        session_id=session_id,
        agent_id=agent_id,
        model_requested=model,
        model=model,
        provider="anthropic",
        route="default",
        stream=True,
        status=status,
        http_status=200,
        input_tokens=10,
        output_tokens=42,
        duration_ms=1500.0,
        ttft_ms=300.0,
        request_bytes=len(text),
        response_bytes=len(response or ""),
        request_headers={"x-api-key": "…0000"},
        response_headers={"content-type": "text/event-stream"},
        request_body=text,
        response_body=response,
    )
