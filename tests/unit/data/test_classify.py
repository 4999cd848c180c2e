"""Every request kind Claude Code sends is recognised (CLAUDE_CODE_WIRE.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ccp_data.classify import CLASSES, classify
from tests.support.recorded import load_capture


def body(user: Any, *, system: Any = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": "claude-opus-5-5",
        "messages": [{"role": "user", "content": user}],
    }
    if system is not None:
        data["system"] = system
    data.update(extra)
    return data


REMINDER = {"type": "text", "text": "<system-reminder>\nbe nice\n</system-reminder>"}

CASES: list[tuple[str, str, str | None, Any]] = [
    ("count_tokens by path", "/v1/messages/count_tokens", None, body("hello")),
    ("count_tokens with query", "/v1/messages/count_tokens?beta=true", None, body("x")),
    ("not JSON", "/v1/messages", None, None),
    ("no messages", "/v1/messages", None, {"model": "m"}),
    ("JSON but a list", "/v1/messages", None, [1, 2]),
    ("quota probe", "/v1/messages", None, body("quota", max_tokens=1)),
    ("quota needs max_tokens 1", "/v1/messages", None, body("quota", max_tokens=100)),
    ("warmup", "/v1/messages", None, body("Warmup")),
    ("warmup as a block", "/v1/messages", None, body([{"type": "text", "text": "Warmup"}])),
    (
        "title",
        "/v1/messages",
        None,
        body("fix the bug", system="Generate a concise, sentence-case title for this"),
    ),
    (
        "topic detection is a title call",
        "/v1/messages",
        None,
        body(
            "x",
            system=[
                {
                    "type": "text",
                    "text": "Analyze if this message indicates a new conversation topic.",
                }
            ],
        ),
    ),
    (
        "suggestion after reminders",
        "/v1/messages",
        None,
        body([REMINDER, {"type": "text", "text": "[SUGGESTION MODE: suggest what to do]"}]),
    ),
    (
        "compaction in the user turn",
        "/v1/messages",
        None,
        body("Your task is to create a detailed summary of the conversation so far"),
    ),
    (
        "compaction in the system prompt",
        "/v1/messages",
        None,
        body("go", system="Summarize this coding conversation in detail"),
    ),
    ("web fetch helper", "/v1/messages", None, body("Web page content:\n<html>…")),
    (
        "web search helper",
        "/v1/messages",
        None,
        body("Please perform a web search for the query: sqlite fts5"),
    ),
    ("subagent by header", "/v1/messages", "agent-7", body("look around")),
    (
        "subagent by older system prompt",
        "/v1/messages",
        None,
        body("find files", system="You are a file search specialist for Claude Code"),
    ),
    ("main turn", "/v1/messages", None, body([REMINDER, {"type": "text", "text": "fix it"}])),
]
EXPECTED = {
    "count_tokens by path": "count_tokens",
    "count_tokens with query": "count_tokens",
    "not JSON": "other",
    "no messages": "other",
    "JSON but a list": "other",
    "quota probe": "quota",
    "quota needs max_tokens 1": "main",
    "warmup": "warmup",
    "warmup as a block": "warmup",
    "title": "title",
    "topic detection is a title call": "title",
    "suggestion after reminders": "suggestion",
    "compaction in the user turn": "compaction",
    "compaction in the system prompt": "compaction",
    "web fetch helper": "web_helper",
    "web search helper": "web_helper",
    "subagent by header": "subagent",
    "subagent by older system prompt": "subagent",
    "main turn": "main",
}


@pytest.mark.parametrize(("name", "path", "agent", "data"), CASES, ids=[c[0] for c in CASES])
def test_class_of_each_kind(name: str, path: str, agent: str | None, data: Any) -> None:
    assert classify(path, agent, data) == EXPECTED[name]


def test_every_class_is_covered_by_a_case() -> None:
    assert set(EXPECTED.values()) == set(CLASSES)


def test_warmup_only_on_a_first_turn() -> None:
    data = body("Warmup")
    data["messages"] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "Warmup"},
    ]
    assert classify("/v1/messages", None, data) == "main"


def test_real_captures_are_main_turns(fixtures_dir: Path) -> None:
    first = load_capture(fixtures_dir, "first_turn")
    assert classify("/v1/messages", None, first) == "main"
    for exchange in load_capture(fixtures_dir, "tool_session"):
        assert classify(exchange["path"], None, exchange["body"]) == "main"
