"""What kind of request Claude Code sent: main turn, subagent, or one of its helper calls.

Claude Code sends several kinds of requests through the same endpoint (CLAUDE_CODE_WIRE.md,
"Recognising request kinds"). They are told apart by the path, the agent header and the words of
the prompt, checked in the order of ``RULES``: the first rule that matches names the class. The
table is the whole policy, so a new client prompt is one row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAIN = "main"
SUBAGENT = "subagent"
TITLE = "title"
QUOTA = "quota"
WARMUP = "warmup"
SUGGESTION = "suggestion"
COMPACTION = "compaction"
WEB_HELPER = "web_helper"
COUNT_TOKENS = "count_tokens"
OTHER = "other"

CLASSES = (
    MAIN,
    SUBAGENT,
    TITLE,
    QUOTA,
    WARMUP,
    SUGGESTION,
    COMPACTION,
    WEB_HELPER,
    COUNT_TOKENS,
    OTHER,
)
# Helper calls reuse the session but are not part of the conversation the user sees.
HELPER_CLASSES = frozenset({TITLE, QUOTA, WARMUP, SUGGESTION, WEB_HELPER})


@dataclass(frozen=True, slots=True)
class Signals:
    """The few facts about a request that classification looks at."""

    path: str
    agent_id: str | None
    body: Mapping[str, Any] | None
    system_lower: str  # the system prompt's text, lower-cased once for the phrase rules
    last_user_texts: tuple[str, ...]  # the text blocks of the last user message, in order
    last_user_lower: str
    user_message_count: int


def texts_of(content: Any) -> tuple[str, ...]:
    """The texts of a message or system field: a string, or the text of each text block."""
    if isinstance(content, str):
        return (content,)
    if isinstance(content, list):
        return tuple(
            block["text"]
            for block in content
            if isinstance(block, dict) and isinstance(block.get("text"), str)
        )
    return ()


def signals(path: str, agent_id: str | None, body: Any) -> Signals:
    if not isinstance(body, dict):
        return Signals(path, agent_id, None, "", (), "", 0)
    messages = body.get("messages")
    users = (
        [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        if isinstance(messages, list)
        else []
    )
    last_user = texts_of(users[-1].get("content")) if users else ()
    system = _lowered("\n".join(texts_of(body.get("system"))))
    return Signals(
        path, agent_id, body, system, last_user, "\n".join(last_user).lower(), len(users)
    )


def _contains_any(lowered: str, phrases: tuple[str, ...]) -> bool:
    return any(phrase in lowered for phrase in phrases)


# Claude Code sends the same few system prompts (kilobytes each) on every request, so lowering
# them and looking for the phrases is done once per distinct prompt, not once per request.
@functools.lru_cache(maxsize=64)
def _lowered(system: str) -> str:
    return system.lower()


@functools.lru_cache(maxsize=256)
def _system_says(system_lower: str, phrases: tuple[str, ...]) -> bool:
    return _contains_any(system_lower, phrases)


_TITLE_PHRASES = (
    "generate a concise, sentence-case title",
    "please write a 5-10 word title",
    "analyze if this message indicates a new conversation topic",
)
_COMPACTION_PHRASES = (
    "summarize this coding conversation",
    "create a detailed summary of the conversation",
    "your task is to create a detailed summary",
)
_WEB_PHRASES = ("web page content:", "perform a web search for the query")
_SUBAGENT_PHRASES = (
    "you are an agent for claude code",
    "file search specialist",
    "software architect",
)


def _is_count_tokens(s: Signals) -> bool:
    return s.path.split("?", 1)[0].rstrip("/").endswith("/count_tokens")


def _is_unreadable(s: Signals) -> bool:
    return s.body is None or not isinstance(s.body.get("messages"), list)


def _is_quota(s: Signals) -> bool:
    return (
        s.body is not None
        and s.body.get("max_tokens") == 1
        and any(t.strip() == "quota" for t in s.last_user_texts)
    )


def _is_warmup(s: Signals) -> bool:
    return s.user_message_count == 1 and any(t.strip() == "Warmup" for t in s.last_user_texts)


def _is_title(s: Signals) -> bool:
    return _system_says(s.system_lower, _TITLE_PHRASES)


def _is_suggestion(s: Signals) -> bool:
    return any(t.lstrip().startswith("[SUGGESTION MODE:") for t in s.last_user_texts)


def _is_compaction(s: Signals) -> bool:
    return _system_says(s.system_lower, _COMPACTION_PHRASES) or _contains_any(
        s.last_user_lower, _COMPACTION_PHRASES
    )


def _is_web_helper(s: Signals) -> bool:
    return _contains_any(s.last_user_lower, _WEB_PHRASES) or _system_says(
        s.system_lower, _WEB_PHRASES
    )


def _is_subagent(s: Signals) -> bool:
    return bool(s.agent_id) or _system_says(s.system_lower, _SUBAGENT_PHRASES)


RULES: tuple[tuple[str, Callable[[Signals], bool]], ...] = (
    (COUNT_TOKENS, _is_count_tokens),
    (OTHER, _is_unreadable),
    (QUOTA, _is_quota),
    (WARMUP, _is_warmup),
    (TITLE, _is_title),
    (SUGGESTION, _is_suggestion),
    (COMPACTION, _is_compaction),
    (WEB_HELPER, _is_web_helper),
    (SUBAGENT, _is_subagent),
)


def classify(path: str, agent_id: str | None, body: Any) -> str:
    """The class of one request; ``body`` is the parsed JSON request body (None if unreadable)."""
    s = signals(path, agent_id, body)
    for name, rule in RULES:
        if rule(s):
            return name
    return MAIN
