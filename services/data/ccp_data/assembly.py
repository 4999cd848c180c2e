"""The assistant message of a response, rebuilt from its JSON body or from its SSE stream.

Streams are replayed the way the Anthropic SDK accumulates them: blocks open at
``content_block_start``, grow by ``text_delta`` / ``thinking_delta`` / ``signature_delta`` /
``input_json_delta`` and end at ``content_block_stop``, where a tool call's partial JSON becomes its
parsed ``input``. A stream cut short still yields what arrived; an ``error`` event is kept.
Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

import orjson


def assemble(body: str | None) -> dict[str, Any] | None:
    """The response as one Messages API ``message`` dict, or None when there is nothing to show."""
    if not body:
        return None
    stripped = body.lstrip()
    if stripped.startswith("{"):
        try:
            message = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return None
        return message if isinstance(message, dict) else None
    if stripped.startswith(("event:", "data:", ":")):
        return _from_events(sse_events(body))
    return None


def sse_events(text: str) -> list[tuple[str, Any]]:
    """(event name, parsed data) for each complete SSE event with JSON data."""
    events: list[tuple[str, Any]] = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        name = ""
        data: list[str] = []
        for line in frame.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if not data:
            continue
        try:
            parsed = orjson.loads("\n".join(data))
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            events.append((name or str(parsed.get("type", "")), parsed))
    return events


def _from_events(events: list[tuple[str, Any]]) -> dict[str, Any] | None:
    message: dict[str, Any] | None = None
    blocks: dict[int, dict[str, Any]] = {}
    partial_json: dict[int, list[str]] = {}
    for name, data in events:
        if name == "message_start" and isinstance(data.get("message"), dict):
            message = dict(data["message"])
            message["content"] = []
        elif name == "content_block_start" and isinstance(data.get("content_block"), dict):
            blocks[_index(data)] = dict(data["content_block"])
        elif name == "content_block_delta" and isinstance(data.get("delta"), dict):
            _apply_delta(blocks.setdefault(_index(data), {}), data["delta"], partial_json, data)
        elif name == "content_block_stop":
            _finish_tool_input(blocks.get(_index(data)), partial_json.pop(_index(data), None))
        elif name == "message_delta":
            message = _apply_message_delta(message or {"role": "assistant"}, data)
        elif name == "error":
            message = message or {"role": "assistant"}
            message["error"] = data.get("error", data)
    if message is None and not blocks:
        return None
    message = message or {"role": "assistant"}
    for index, chunks in partial_json.items():  # stream cut before content_block_stop
        _finish_tool_input(blocks.get(index), chunks)
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message


def _index(data: dict[str, Any]) -> int:
    index = data.get("index", 0)
    return index if isinstance(index, int) else 0


def _apply_delta(
    block: dict[str, Any],
    delta: dict[str, Any],
    partial_json: dict[int, list[str]],
    data: dict[str, Any],
) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + str(delta.get("text", ""))
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
    elif kind == "signature_delta":
        block["signature"] = block.get("signature", "") + str(delta.get("signature", ""))
    elif kind == "input_json_delta":
        partial_json.setdefault(_index(data), []).append(str(delta.get("partial_json", "")))
    elif kind == "citations_delta" and "citation" in delta:
        block.setdefault("citations", []).append(delta["citation"])


def _finish_tool_input(block: dict[str, Any] | None, chunks: list[str] | None) -> None:
    if block is None or chunks is None:
        return
    raw = "".join(chunks)
    if not raw.strip():
        return  # the start event's input ({}) stands
    try:
        block["input"] = orjson.loads(raw)
    except orjson.JSONDecodeError:
        block["input_raw"] = raw  # truncated stream: keep what was sent rather than nothing


def _apply_message_delta(message: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    delta = data.get("delta")
    if isinstance(delta, dict):
        for key in ("stop_reason", "stop_sequence"):
            if key in delta:
                message[key] = delta[key]
    usage = data.get("usage")
    if isinstance(usage, dict):
        # Usage in message_delta is cumulative: the latest value wins, never a sum.
        message["usage"] = {**message.get("usage", {}), **usage}
    return message
