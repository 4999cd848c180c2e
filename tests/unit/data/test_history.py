"""Reusing the last turn's messages gives exactly the messages built from scratch."""

from __future__ import annotations

from typing import Any

from ccp_data import conversations as conv
from ccp_data.history import Histories, shared_prefix

MARK = {"type": "ephemeral"}


def user(text: str, *, marked: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if marked:
        block["cache_control"] = MARK
    return {"role": "user", "content": [block]}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def turn(history: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    """A resend: the history without markers, then the new prompt carrying the marker."""
    unmarked = [user(m["content"][0]["text"]) if m["role"] == "user" else m for m in history]
    return [*unmarked, user(prompt, marked=True)]


def test_a_growing_history_with_a_moving_marker_matches_a_full_build() -> None:
    histories = Histories()
    items: list[dict[str, Any]] = []
    for n in range(8):
        items = turn(items, f"prompt {n}")
        got = histories.messages(("s", None, "main"), items)
        assert got == conv.chain_of(items)
        items = [*items, assistant(f"answer {n}")]


def test_an_edited_or_unrelated_history_under_the_same_key_is_rebuilt() -> None:
    histories = Histories()
    first = turn([user("a"), assistant("b")], "c")
    histories.messages("k", first)
    edited = turn([user("a, edited"), assistant("b")], "c")
    assert histories.messages("k", edited) == conv.chain_of(edited)
    shorter = [user("a, edited")]
    assert histories.messages("k", shorter) == conv.chain_of(shorter)


def test_the_cache_forgets_the_least_recent_thread() -> None:
    histories = Histories(size=2)
    for key in ("a", "b", "c"):
        histories.messages(key, [user(key)])
    assert [key for key in histories._last] == ["b", "c"]


def test_shared_prefix_counts_equal_leading_items() -> None:
    assert shared_prefix([user("a"), user("b")], [user("a"), user("b", marked=True)]) == 1
    assert shared_prefix([], [user("a")]) == 0
