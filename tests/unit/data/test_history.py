"""Reusing the last turn's messages gives exactly the messages built from scratch."""

from __future__ import annotations

from typing import Any

import orjson

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


def size(items: list[dict[str, Any]]) -> int:
    return len(orjson.dumps({"messages": items}))


def test_a_growing_history_with_a_moving_marker_matches_a_full_build() -> None:
    histories = Histories()
    items: list[dict[str, Any]] = []
    for n in range(8):
        items = turn(items, f"prompt {n}")
        got = histories.messages(("s", None, "main"), items, size(items))
        assert got == conv.chain_of(items)
        items = [*items, assistant(f"answer {n}")]


def test_an_edited_or_unrelated_history_under_the_same_key_is_rebuilt() -> None:
    histories = Histories()
    first = turn([user("a"), assistant("b")], "c")
    histories.messages("k", first, size(first))
    edited = turn([user("a, edited"), assistant("b")], "c")
    assert histories.messages("k", edited, size(edited)) == conv.chain_of(edited)
    shorter = [user("a, edited")]
    assert histories.messages("k", shorter, size(shorter)) == conv.chain_of(shorter)


def test_the_cache_forgets_the_least_recent_thread() -> None:
    histories = Histories(size=2)
    for key in ("a", "b", "c"):
        histories.messages(key, [user(key)], 10)
    assert [key for key in histories._last] == ["b", "c"]


def test_the_cache_is_bounded_by_the_bytes_it_remembers() -> None:
    histories = Histories(size=64, max_bytes=3_000)
    history = [user("x" * 900)]
    for key in ("a", "b", "c", "d"):
        histories.messages(key, history, 1_000)
    assert list(histories._last) == ["b", "c", "d"]
    assert histories.bytes == 3_000
    histories.messages("b", history, 1_000)  # a hit makes a thread recent again
    histories.messages("e", history, 1_500)
    assert list(histories._last) == ["b", "e"]
    assert histories.bytes == 2_500


def test_a_history_larger_than_the_cache_is_not_remembered() -> None:
    histories = Histories(max_bytes=3_000)
    histories.messages("a", [user("a")], 1_000)
    big = [user("y" * 5_000)]
    assert histories.messages("b", big, 5_000) == conv.chain_of(big)
    assert list(histories._last) == ["a"]
    assert histories.bytes == 1_000


def test_shared_prefix_counts_equal_leading_items() -> None:
    assert shared_prefix([user("a"), user("b")], [user("a"), user("b", marked=True)]) == 1
    assert shared_prefix([], [user("a")]) == 0
