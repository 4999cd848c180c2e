from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccp_core import sse
from ccp_core.sse import SSEEvent, SSEParser, StreamWatcher, split_lines


def frame(event: str, data: dict[str, object]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


USAGE_START = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 300,
    "cache_read_input_tokens": 4000,
    "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
    "output_tokens": 1,
}
STREAM = b"".join(
    [
        frame(
            "message_start",
            {
                "type": "message_start",
                "message": {"model": "claude-opus-5-5", "usage": USAGE_START},
            },
        ),
        frame("content_block_start", {"type": "content_block_start", "index": 0}),
        b'event: ping\ndata: {"type": "ping"}\n\n',
        frame(
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi"}},
        ),
        frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": None},
                "usage": {"output_tokens": 5},
            },
        ),
        frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 9, "input_tokens": 12},
            },
        ),
        frame("message_stop", {"type": "message_stop"}),
    ]
)


def parse_all(chunks: list[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.close()


def test_frames_events_with_names_and_data() -> None:
    events = parse_all([b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\n"])
    assert events == [SSEEvent("a", b"1"), SSEEvent("b", b"2")]


def test_multi_line_data_is_joined_with_newlines_and_comments_are_skipped() -> None:
    events = parse_all([b": keep-alive\ndata: one\ndata:two\n\n"])
    assert events == [SSEEvent("message", b"one\ntwo")]


def test_crlf_and_lone_cr_line_endings() -> None:
    assert parse_all([b"event: x\r\ndata: 1\r\n\r\n", b"event: y\rdata: 2\r\r"]) == [
        SSEEvent("x", b"1"),
        SSEEvent("y", b"2"),
    ]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    # "\r" | "\n" across a chunk boundary must not produce an empty line (a spurious dispatch).
    events = parse_all([b"data: 1\r", b"\ndata: 2\r", b"\n\r", b"\n"])
    assert events == [SSEEvent("message", b"1\n2")]


def test_an_event_cut_off_at_end_of_stream_is_still_delivered() -> None:
    assert parse_all([b"event: message_delta\ndata: {}"]) == [SSEEvent("message_delta", b"{}")]


def test_events_without_data_are_not_dispatched() -> None:
    assert parse_all([b"event: ping\n\ndata: x\n\n"]) == [SSEEvent("message", b"x")]


def test_a_final_line_ending_in_cr_is_a_complete_line() -> None:
    assert parse_all([b"data: x\r"]) == [SSEEvent("message", b"x")]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=30))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert parse_all(chunks) == parse_all([STREAM])


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=30))
def test_crlf_streams_chunked_anywhere_match_lf_streams(cuts: list[int]) -> None:
    crlf = STREAM.replace(b"\n", b"\r\n")
    bounds = [0, *sorted(cuts), len(crlf)]
    chunks = [crlf[a:b] for a, b in itertools.pairwise(bounds)]
    assert parse_all(chunks) == parse_all([STREAM])


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=30))
def test_lone_cr_streams_chunked_anywhere_match_lf_streams(cuts: list[int]) -> None:
    cr = STREAM.replace(b"\n", b"\r")
    bounds = [0, *sorted(cuts), len(cr)]
    chunks = [cr[a:b] for a, b in itertools.pairwise(bounds)]
    assert parse_all(chunks) == parse_all([STREAM])


def test_split_lines_keeps_the_unfinished_rest_and_a_trailing_cr() -> None:
    assert split_lines(b"a\r\nb\rc\nrest") == ([b"a", b"b", b"c"], b"rest")
    assert split_lines(b"a\r") == ([], b"a\r")
    assert split_lines(b"") == ([], b"")


def test_a_held_cr_ends_its_line_when_the_next_chunk_has_no_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: x\r\r") == []  # the last CR may still be half of a CRLF
    assert parser.feed(b"data: y") == [SSEEvent("message", b"x")]


def test_a_multi_megabyte_line_is_scanned_once_not_once_per_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scanned: list[int] = []

    def counting_split(text: bytes) -> tuple[list[bytes], bytes]:
        scanned.append(len(text))
        return split_lines(text)

    monkeypatch.setattr(sse, "split_lines", counting_split)
    payload = b"x" * (8 << 20)
    stream = b"event: content_block_delta\ndata: " + payload + b"\n\n"
    size = 16 << 10
    events = parse_all([stream[i : i + size] for i in range(0, len(stream), size)])
    assert events == [SSEEvent("content_block_delta", payload)]
    # Re-scanning the pending line with each chunk would add up to ~2 GB (512 chunks of 8 MB).
    assert sum(scanned) <= 2 * len(stream)


def watch(chunks: list[bytes]) -> StreamWatcher:
    watcher = StreamWatcher()
    for chunk in chunks:
        watcher.feed(chunk)
    watcher.close()
    return watcher


def test_watcher_extracts_model_usage_and_stop_reason() -> None:
    summary = watch([STREAM]).summary
    assert summary.model == "claude-opus-5-5"
    assert summary.input_tokens == 12
    assert summary.cache_creation_input_tokens == 300
    assert summary.cache_read_input_tokens == 4000
    assert (summary.cache_creation_5m_tokens, summary.cache_creation_1h_tokens) == (100, 200)
    # message_delta usage is cumulative: the latest value wins, it is never summed (1+5+9).
    assert summary.output_tokens == 9
    assert summary.stop_reason == "end_turn"
    assert summary.error_type is None


@given(st.integers(min_value=1, max_value=64))
def test_watcher_is_indifferent_to_chunk_size(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert watch(chunks).summary == watch([STREAM]).summary


def test_chunks_of_whole_events_give_the_same_facts() -> None:
    # How providers send: one event per chunk. Delta-only chunks after the first are not framed.
    frames = [part + b"\n\n" for part in STREAM.split(b"\n\n") if part]
    assert len(frames) > 5
    assert watch(frames).summary == watch([STREAM]).summary
    assert watch([b"".join(frames[:3]), *frames[3:]]).summary == watch([STREAM]).summary


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=30))
def test_watcher_is_indifferent_to_where_chunks_end(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(edges)]
    assert watch(chunks).summary == watch([STREAM]).summary


def test_first_content_delta_is_noticed_only_when_it_arrives() -> None:
    watcher = StreamWatcher()
    head, tail = STREAM.split(b"event: content_block_delta", 1)
    watcher.feed(head)
    assert not watcher.saw_delta
    watcher.feed(b"event: content_block_delta" + tail)
    assert watcher.saw_delta


def test_mid_stream_error_event_is_reported() -> None:
    error = frame(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    summary = watch([STREAM.split(b"event: message_delta")[0], error]).summary
    assert summary.error_type == "overloaded_error"
    assert summary.error_message == "Overloaded"


def test_streams_without_event_lines_are_read_from_the_data_type() -> None:
    bare = b"".join(line + b"\n" for line in STREAM.split(b"\n") if not line.startswith(b"event:"))
    watcher = watch([bare])
    assert watcher.saw_delta
    assert watcher.summary.output_tokens == 9
    assert watcher.summary.model == "claude-opus-5-5"


def test_undecodable_fact_event_raises_for_the_tee_to_stop_watching() -> None:
    with pytest.raises(ValueError):
        StreamWatcher().feed(b"event: message_start\ndata: {oops\n\n")
