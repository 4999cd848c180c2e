"""Messages out of request bodies: who the conversation belongs to, and each message's identity.

Claude Code resends the whole history on every turn, with small differences between copies:
``cache_control`` markers move, a string content becomes a list of text blocks, thinking blocks
are cleared. A message's *identity* ignores those differences, and a *chain hash* folds in the
identities of every message before it, so the same message at the same place in the same history
is stored once, while an edited or rewound history forks into a new branch instead of
interleaving with the old one. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

MAIN_AGENT = "main"
# Parts of a block that vary between copies of the same message.
_CACHE_KEYS = frozenset({"cache_control"})
_VOLATILE_KEYS = frozenset({"cache_control", "citations"})
_UNSTABLE_BLOCKS = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True, slots=True)
class Message:
    """One message: its normalised content and chain hash; text and kind are derived on demand
    because most messages of a resent history are already stored and never need them."""

    position: int
    role: str
    content: list[dict[str, Any]]
    chain_hash: str

    @property
    def text(self) -> str:
        """What search indexes: prose, thinking, tool input and tool result text."""
        return joined(block_text(block) for block in self.content)

    @property
    def kind(self) -> str:
        return message_kind(self.role, self.content)


def normalize_content(content: Any) -> list[dict[str, Any]]:
    """Content as a list of blocks without cache markers; a plain string is one text block."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return []
    blocks: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            blocks.append({"type": "text", "text": block})
        elif isinstance(block, dict):
            blocks.append(_without(block, _CACHE_KEYS))
    return blocks


def _without(block: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    # Copy only when there is something to drop: this runs for every block of every resend.
    if keys.isdisjoint(block):
        return block
    return {k: v for k, v in block.items() if k not in keys}


def _identity_block(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind in _UNSTABLE_BLOCKS:
        return None
    if kind == "tool_result":
        return {
            "type": kind,
            "tool_use_id": block.get("tool_use_id"),
            "content": normalize_content(block.get("content")),
            "is_error": bool(block.get("is_error")),
        }
    return _without(block, _VOLATILE_KEYS)


def identity(role: str, content: list[dict[str, Any]]) -> bytes:
    """Canonical bytes of what a message says, stable across Claude Code's resends."""
    blocks = [b for b in (_identity_block(block) for block in content) if b is not None]
    return orjson.dumps([role, blocks], option=orjson.OPT_SORT_KEYS)


def chain(previous: str, role: str, content: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256(previous.encode("ascii"))
    digest.update(identity(role, content))
    return digest.hexdigest()[:32]


def joined(texts: Iterable[str]) -> str:
    return "\n".join(t for t in texts if t)


def block_text(block: dict[str, Any]) -> str:
    """The searchable text of one block: prose, thinking, tool input, tool result text."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "thinking":
        return str(block.get("thinking", ""))
    if kind == "tool_use":
        payload = block.get("input", block.get("input_raw", ""))
        rendered = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
        return f"{block.get('name', '')} {rendered}".strip()
    if kind == "tool_result":
        return joined(block_text(b) for b in normalize_content(block.get("content")))
    return ""


def message_kind(role: str, content: list[dict[str, Any]]) -> str:
    types = {block.get("type") for block in content}
    if role == "system":
        return "system"
    if "tool_result" in types:
        return "tool_result"
    if "tool_use" in types:
        return "tool_use"
    if "text" in types:
        return "text"
    if types & _UNSTABLE_BLOCKS:
        return "thinking"
    return "other"


def build(position: int, previous: str, role: str, raw_content: Any) -> Message:
    content = normalize_content(raw_content)
    return Message(position, role, content, chain(previous, role, content))


def message_items(body: Any) -> list[dict[str, Any]]:
    """The message objects of a request body, in order (anything else in the list skipped)."""
    raw = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(raw, list):
        return []
    return [item for item in raw if isinstance(item, dict)]


def chain_of(items: Sequence[dict[str, Any]], known: Sequence[Message] = ()) -> list[Message]:
    """The messages of ``items``, each with its chain hash; ``known`` are the messages of the
    first ``len(known)`` items, already built (from an earlier copy of the same history)."""
    messages = list(known)
    previous = messages[-1].chain_hash if messages else ""
    for item in items[len(messages) :]:
        role = item.get("role")
        message = build(
            len(messages),
            previous,
            role if isinstance(role, str) else "unknown",
            item.get("content"),
        )
        messages.append(message)
        previous = message.chain_hash
    return messages


def extract(body: Any) -> list[Message]:
    """The messages of a request body, in order, each with its chain hash."""
    return chain_of(message_items(body))


def response_message(prompt: list[Message], assembled: dict[str, Any] | None) -> Message | None:
    """The assistant reply as the message that follows ``prompt`` (None if it has no content)."""
    if not assembled or not isinstance(assembled.get("content"), list) or not assembled["content"]:
        return None
    previous = prompt[-1].chain_hash if prompt else ""
    return build(len(prompt), previous, "assistant", assembled["content"])


def title_of(messages: list[Message]) -> str | None:
    """A conversation's title: the user's first words that are not a system reminder."""
    for message in messages:
        if message.role != "user":
            continue
        for block in message.content:
            text = block.get("text") if block.get("type") == "text" else None
            if isinstance(text, str) and text.strip() and "<system-reminder>" not in text:
                return " ".join(text.split())[:200]
    return None
