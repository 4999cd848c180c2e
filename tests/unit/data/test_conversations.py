"""Session keys, message identity across Claude Code's resends, chain hashes and text."""

from __future__ import annotations

from pathlib import Path

from ccp_data import conversations as conv
from ccp_data.assembly import assemble
from ccp_shared.session import session_of
from tests.support.recorded import load_capture, streamed_reply

SESSION = "a7fef5e5-c038-416e-a21a-9d947304b249"


def test_session_prefers_the_header() -> None:
    body = {"metadata": {"user_id": '{"session_id": "from-json"}'}}
    assert session_of("from-header", body) == "from-header"


def test_session_from_json_user_id(fixtures_dir: Path) -> None:
    body = load_capture(fixtures_dir, "tool_session")[0]["body"]
    assert session_of(None, body) == SESSION


def test_session_from_legacy_user_id() -> None:
    user_id = f"user_{'ab' * 32}_account_{SESSION}_session_{SESSION.upper()}"
    assert session_of(None, {"metadata": {"user_id": user_id}}) == SESSION.upper()


def test_no_session() -> None:
    assert session_of(None, {"metadata": {"user_id": "{broken"}}) is None
    assert session_of(None, {"metadata": {"user_id": "someone"}}) is None
    assert session_of(None, None) is None


def test_resent_history_has_the_same_chain_hashes(fixtures_dir: Path) -> None:
    # Between the two captured turns the system message changes from a block list with a cache
    # marker to a plain string, and the cache marker moves: identity must not change.
    first, second = (x["body"] for x in load_capture(fixtures_dir, "tool_session"))
    turn1, turn2 = conv.extract(first), conv.extract(second)
    assert [m.chain_hash for m in turn1] == [m.chain_hash for m in turn2[:2]]
    assert len({m.chain_hash for m in turn2}) == 4


def test_streamed_reply_matches_its_copy_in_the_next_turn(fixtures_dir: Path) -> None:
    first, second = (x["body"] for x in load_capture(fixtures_dir, "tool_session"))
    history = second["messages"][2]["content"]
    reply = assemble(streamed_reply([{"type": "thinking", "thinking": "hmm"}, *history]))
    response = conv.response_message(conv.extract(first), reply)
    assert response is not None
    assert response.chain_hash == conv.extract(second)[2].chain_hash
    assert response.kind == "tool_use"
    assert "hmm" in response.text  # thinking is searchable, though not part of identity


def test_an_edited_history_forks() -> None:
    a = conv.extract(
        {"messages": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]}
    )
    b = conv.extract(
        {"messages": [{"role": "user", "content": "uno"}, {"role": "user", "content": "two"}]}
    )
    assert a[1].chain_hash != b[1].chain_hash  # same text, different history


def test_text_covers_tool_input_and_results(fixtures_dir: Path) -> None:
    second = load_capture(fixtures_dir, "tool_session")[1]["body"]
    messages = conv.extract(second)
    assert "echo marker-from-tool-7f3a" in messages[2].text
    assert messages[2].text.startswith("I will run a command.")
    assert messages[3].text == "marker-from-tool-7f3a"
    assert [m.kind for m in messages] == ["text", "system", "tool_use", "tool_result"]
    assert "cache_control" not in messages[3].content[0]


def test_tool_result_blocks_give_their_text() -> None:
    block = {
        "type": "tool_result",
        "tool_use_id": "t",
        "content": [{"type": "text", "text": "line one"}, {"type": "image", "source": {}}],
    }
    assert conv.block_text(block) == "line one"


def test_title_skips_system_reminders(fixtures_dir: Path) -> None:
    first = load_capture(fixtures_dir, "tool_session")[0]["body"]
    assert conv.title_of(conv.extract(first)) == "run the marker command please"


def test_odd_messages_do_not_break_extraction() -> None:
    body = {"messages": ["junk", {"role": 5, "content": 7}, {"content": [None, "x"]}]}
    messages = conv.extract(body)
    assert [m.role for m in messages] == ["unknown", "unknown"]
    assert messages[1].content == [{"type": "text", "text": "x"}]
    assert conv.extract({"messages": "no"}) == []
