"""Responses are rebuilt into one assistant message, from JSON or from any SSE stream."""

from __future__ import annotations

import orjson

from ccp_data.assembly import assemble, sse_events
from tests.support.recorded import streamed_reply

BLOCKS = [
    {"type": "thinking", "thinking": "the user wants a marker"},
    {"type": "text", "text": "I will run a command."},
    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "echo hi"}},
]


def test_stream_becomes_text_thinking_and_parsed_tool_input() -> None:
    message = assemble(streamed_reply(BLOCKS))
    assert message is not None
    assert message["role"] == "assistant"
    assert message["content"][0] == {
        "type": "thinking",
        "thinking": "the user wants a marker",
        "signature": "sig",
    }
    assert message["content"][1] == {"type": "text", "text": "I will run a command."}
    assert message["content"][2]["input"] == {"command": "echo hi"}
    assert message["stop_reason"] == "tool_use"
    # message_delta usage is cumulative: it replaces output_tokens, input_tokens stays.
    assert message["usage"] == {"input_tokens": 10, "output_tokens": 42}


def test_crlf_framing_is_read_too() -> None:
    message = assemble(streamed_reply(BLOCKS[1:2]).replace("\n", "\r\n"))
    assert message is not None
    assert message["content"] == [{"type": "text", "text": "I will run a command."}]


def test_json_response_is_taken_as_is() -> None:
    body = {"id": "msg_1", "type": "message", "role": "assistant", "content": BLOCKS[1:]}
    assert assemble(orjson.dumps(body).decode()) == body


def test_cut_stream_keeps_what_arrived() -> None:
    stream = streamed_reply(BLOCKS)
    cut = stream[: stream.index("content_block_stop", stream.index('"toolu_1"'))]
    message = assemble(cut)
    assert message is not None
    assert message["content"][1]["text"] == "I will run a command."
    tool = message["content"][2]
    assert tool["name"] == "Bash"
    assert "input_raw" in tool or tool["input"] == {"command": "echo hi"}


def test_error_event_is_kept() -> None:
    stream = (
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        '"message":"Overloaded"}}\n\n'
    )
    message = assemble(stream)
    assert message is not None
    assert message["error"]["type"] == "overloaded_error"
    assert message["content"] == []


def test_unreadable_bodies_give_none() -> None:
    assert assemble(None) is None
    assert assemble("") is None
    assert assemble("<html>bad gateway</html>") is None
    assert assemble('{"truncated": ') is None


def test_events_with_bad_data_are_skipped() -> None:
    text = 'event: ping\ndata: {"type": "ping"}\n\nevent: x\ndata: {nope\n\n: comment\n\n'
    assert sse_events(text) == [("ping", {"type": "ping"})]
