"""The assistant message of a response, rebuilt from its JSON body or from its SSE stream.

Streams are replayed the way the Anthropic SDK accumulates them: blocks open at
``content_block_start``, grow by ``text_delta`` / ``thinking_delta`` / ``signature_delta`` /
``input_json_delta`` and end at ``content_block_stop``, where a tool call's partial JSON becomes its
parsed ``input``. A stream cut short still yields what arrived; an ``error`` event is kept.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import orjson

# Block fields that deltas extend. Their pieces are collected in lists and joined once when the
# block ends: adding each delta to a growing string copies it every time (quadratic; a long
# thinking block has tens of thousands of deltas).
_TEXT_DELTAS = {"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "signature"}
Parts = dict[int, dict[str, list[str]]]  # block index -> field -> pieces
# An event as the Anthropic API frames every one: its name, one line of data, a blank line. A
# response of a few hundred deltas is read by this in one pass of the regex engine instead of a
# split and a loop per line (about a third of the time); anything else is read line by line.
_PLAIN_EVENT = re.compile(r"event:([^\n]*)\ndata: ?([^\n]*)\n\n")


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
    text = text.replace("\r\n", "\n")
    events: list[tuple[str, Any]] = []
    end = 0
    for match in _PLAIN_EVENT.finditer(text):
        if match.start() != end:
            break  # not framed as the API frames it: the rest is read line by line
        end = match.end()
        _add_event(events, match[1].strip(), match[2])
    if end < len(text):
        for frame in text[end:].split("\n\n"):
            name = ""
            data: list[str] = []
            for line in frame.split("\n"):
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
            if data:
                _add_event(events, name, "\n".join(data))
    return events


def _add_event(events: list[tuple[str, Any]], name: str, data: str) -> None:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    if isinstance(parsed, dict):
        events.append((name or str(parsed.get("type", "")), parsed))


def _from_events(events: list[tuple[str, Any]]) -> dict[str, Any] | None:
    message: dict[str, Any] | None = None
    blocks: dict[int, dict[str, Any]] = {}
    parts: Parts = defaultdict(dict)
    for name, data in events:
        if name == "message_start" and isinstance(data.get("message"), dict):
            message = dict(data["message"])
            message["content"] = []
        elif name == "content_block_start" and isinstance(data.get("content_block"), dict):
            blocks[_index(data)] = dict(data["content_block"])
        elif name == "content_block_delta" and isinstance(data.get("delta"), dict):
            index = _index(data)
            _apply_delta(blocks.setdefault(index, {}), data["delta"], parts[index])
        elif name == "content_block_stop":
            _finish_block(blocks.get(_index(data)), parts.pop(_index(data), None))
        elif name == "message_delta":
            message = _apply_message_delta(message or {"role": "assistant"}, data)
        elif name == "error":
            message = message or {"role": "assistant"}
            message["error"] = data.get("error", data)
    if message is None and not blocks:
        return None
    message = message or {"role": "assistant"}
    for index, pieces in parts.items():  # stream cut before content_block_stop
        _finish_block(blocks.get(index), pieces)
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message


def _index(data: dict[str, Any]) -> int:
    index = data.get("index", 0)
    return index if isinstance(index, int) else 0


def _apply_delta(
    block: dict[str, Any], delta: dict[str, Any], pieces: dict[str, list[str]]
) -> None:
    kind = delta.get("type")
    if isinstance(kind, str) and kind in _TEXT_DELTAS:
        key = _TEXT_DELTAS[kind]
        if key not in pieces:
            start = block.get(key)  # the start event's own value, usually ""
            pieces[key] = [start] if isinstance(start, str) else []
        pieces[key].append(str(delta.get(key, "")))
    elif kind == "input_json_delta":
        pieces.setdefault("partial_json", []).append(str(delta.get("partial_json", "")))
    elif kind == "citations_delta" and "citation" in delta:
        block.setdefault("citations", []).append(delta["citation"])


def _finish_block(block: dict[str, Any] | None, pieces: dict[str, list[str]] | None) -> None:
    if block is None or pieces is None:
        return
    chunks = pieces.pop("partial_json", None)
    for key, texts in pieces.items():
        block[key] = "".join(texts)
    if chunks is not None:
        _finish_tool_input(block, "".join(chunks))


def _finish_tool_input(block: dict[str, Any], raw: str) -> None:
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
