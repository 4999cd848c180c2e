"""Responses are rebuilt into one assistant message, from JSON or from any SSE stream."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

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


def test_a_long_stream_of_deltas_assembles_whole() -> None:
    # 20,000 deltas of 100 characters. Speed is the bench's business (no timed tests); pieces are
    # joined once per block, which this checks for correctness at a size where a per-delta
    # string copy would be felt.
    delta = {"type": "thinking_delta", "thinking": "x" * 99 + "\n"}
    events = [
        ("message_start", {"message": {"role": "assistant", "content": []}}),
        (
            "content_block_start",
            {"index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        ),
        *[("content_block_delta", {"index": 0, "delta": delta})] * 20_000,
        ("content_block_stop", {"index": 0}),
    ]
    body = "".join(
        f"event: {name}\ndata: {orjson.dumps({'type': name, **data}).decode()}\n\n"
        for name, data in events
    )
    message = assemble(body)
    assert message is not None
    assert message["content"][0]["thinking"] == ("x" * 99 + "\n") * 20_000


def test_pieces_of_several_blocks_are_joined_separately_even_when_interleaved() -> None:
    body = "".join(
        f"event: {name}\ndata: {orjson.dumps({'type': name, **data}).decode()}\n\n"
        for name, data in [
            ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": "A"}}),
            ("content_block_start", {"index": 1, "content_block": {"type": "text", "text": None}}),
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "b"}}),
            ("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "x"}}),
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "c"}}),
            ("content_block_stop", {"index": 0}),
            ("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "y"}}),
        ]
    )
    message = assemble(body)
    assert message is not None
    assert [block["text"] for block in message["content"]] == ["Abc", "xy"]


def _frames_line_by_line(text: str) -> list[tuple[str, Any]]:
    """The reading sse_events must agree with: split into frames, every line looked at."""
    events: list[tuple[str, Any]] = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "", []
        for line in frame.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        try:
            parsed = orjson.loads("\n".join(data)) if data else None
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            events.append((name or str(parsed.get("type", "")), parsed))
    return events


_LINES = st.sampled_from(
    [
        "event: content_block_delta",
        "event:ping",
        "event: ",
        'data: {"type": "ping"}',
        'data:{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}',
        'data: {"type": "message_stop"}\r',
        "data: {nope",
        'data: {"a":',
        "data: 1}",
        "data: [1]",
        "id: 7",
        ": keep-alive",
        "retry: 10",
        "",
    ]
)


@given(st.lists(st.tuples(_LINES, st.sampled_from(["\n", "\r\n", "\n\n"])), max_size=30))
def test_any_framing_reads_as_the_line_by_line_reading_does(
    lines: list[tuple[str, str]],
) -> None:
    text = "".join(line + end for line, end in lines)
    assert sse_events(text) == _frames_line_by_line(text)
    # A stream cut anywhere too (the last event without its blank line).
    cut = text[: len(text) * 2 // 3]
    assert sse_events(cut) == _frames_line_by_line(cut)


def test_a_stream_framed_as_the_api_frames_it_reads_whole() -> None:
    stream = streamed_reply(BLOCKS)
    events = sse_events(stream)
    assert [name for name, _ in events] == [
        name.removeprefix("event: ") for name in stream.split("\n") if name.startswith("event:")
    ]
    assert events == _frames_line_by_line(stream)
