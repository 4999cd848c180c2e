"""The load generator's HTTP/1.1 framing: the request it writes and the responses it parses."""

from __future__ import annotations

import pytest

from bench.http1 import (
    ChunkedBody,
    MalformedResponse,
    ResponseParser,
    build_request,
    chunk_size,
    parse_head,
)

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCCP-Request-Id: rec-1\r\n"
EVENTS = [
    b'event: message_start\ndata: {"type":"message_start"}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
]
# Chunk extensions, an upper-case size and a trailer: framing the parser must see through.
CHUNKED = (
    HEAD
    + b"Transfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"%X;ext=1\r\n%b\r\n" % (len(e), e) for e in EVENTS)
    + b"0\r\nX-Trailer: yes\r\n\r\n"
)
SIZED = HEAD + b"Content-Length: %d\r\n\r\n" % len(b"".join(EVENTS)) + b"".join(EVENTS)


def feed_all(parser: ResponseParser, parts: list[bytes]) -> bytes:
    return b"".join(parser.feed(part) for part in parts)


# -- the request


def test_request_is_one_keep_alive_post_with_the_callers_headers_and_body() -> None:
    target = build_request(
        "http://127.0.0.1:3001/v1/messages?beta=true",
        {"x-api-key": "k", "Connection": "close", "content-length": "9", "Host": "elsewhere"},
        b'{"a":1}',
    )
    assert (target.host, target.port) == ("127.0.0.1", 3001)
    head, _, body = target.request.partition(b"\r\n\r\n")
    assert body == b'{"a":1}'
    assert head.split(b"\r\n") == [
        b"POST /v1/messages?beta=true HTTP/1.1",
        b"Host: 127.0.0.1:3001",
        b"Content-Length: 7",
        b"Connection: keep-alive",
        b"x-api-key: k",
    ]


def test_request_defaults_to_port_80_and_path_slash() -> None:
    target = build_request("http://example.test", {}, b"")
    assert (target.host, target.port) == ("example.test", 80)
    assert target.request.startswith(b"POST / HTTP/1.1\r\n")


def test_request_refuses_anything_but_plain_http() -> None:
    with pytest.raises(ValueError, match="plain http"):
        build_request("https://127.0.0.1/v1/messages", {}, b"")


# -- the head


def test_head_names_are_case_insensitive_and_repeats_join() -> None:
    head = parse_head(b"HTTP/1.1 500 Oops\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0")
    assert head.status == 500
    assert head.headers == {"x-a": "1, 2", "content-length": "0"}
    assert head.keep_alive
    assert head.length == 0


@pytest.mark.parametrize(
    ("raw", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 1", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1", True),
        # No length and not chunked: the body runs until the close.
        (b"HTTP/1.1 200 OK", False),
    ],
)
def test_head_keep_alive(raw: bytes, keep_alive: bool) -> None:
    assert parse_head(raw).keep_alive is keep_alive


def test_head_chunked_wins_over_content_length() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5")
    assert head.chunked
    assert head.length is None


@pytest.mark.parametrize(
    "raw",
    [
        b"ICY 200 OK",
        b"HTTP/1.1 2x0 OK",
        b"HTTP/1.1",
        b"HTTP/1.1 200 OK\r\nno colon here",
        b"HTTP/1.1 200 OK\r\n folded: value",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2",
    ],
)
def test_malformed_heads_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_head(raw)


def test_repeated_identical_content_length_is_allowed() -> None:
    assert parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3").length == 3


# -- chunked framing


def test_chunked_body_split_at_every_byte_boundary() -> None:
    expected = b"".join(EVENTS)
    for cut in range(len(CHUNKED) + 1):
        parser = ResponseParser()
        body = feed_all(parser, [CHUNKED[:cut], CHUNKED[cut:]])
        assert body == expected, cut
        assert parser.done, cut
        assert parser.head is not None and parser.head.headers["ccp-request-id"] == "rec-1"


def test_chunked_body_fed_one_byte_at_a_time_is_done_only_at_the_last_byte() -> None:
    parser = ResponseParser()
    body = b""
    for i in range(len(CHUNKED)):
        assert not parser.done, i
        body += parser.feed(CHUNKED[i : i + 1])
    assert parser.done
    assert body == b"".join(EVENTS)


def test_chunk_data_comes_out_before_its_chunk_is_complete() -> None:
    body = ChunkedBody()
    assert body.feed(b"20\r\nfirst") == b"first"
    assert body.feed(b" half, second") == b" half, second"
    assert not body.done


@pytest.mark.parametrize(
    ("line", "size"), [(b"0", 0), (b"1a", 26), (b"FF", 255), (b"a ; name=value", 10)]
)
def test_chunk_size(line: bytes, size: int) -> None:
    assert chunk_size(line) == size


@pytest.mark.parametrize("line", [b"", b"0x10", b"-1", b"1_0", b"g", b"1" * 17, b";ext"])
def test_bad_chunk_sizes_are_refused(line: bytes) -> None:
    with pytest.raises(MalformedResponse):
        chunk_size(line)


def test_chunk_data_longer_than_its_size_is_refused() -> None:
    with pytest.raises(MalformedResponse, match="longer than its size"):
        ChunkedBody().feed(b"2\r\nabc\r\n")


def test_bytes_after_the_last_chunk_are_refused() -> None:
    with pytest.raises(MalformedResponse, match="after the end"):
        ResponseParser().feed(CHUNKED + b"HTTP/1.1 200 OK\r\n")


def test_a_chunked_stream_cut_short_is_an_error_at_eof() -> None:
    parser = ResponseParser()
    parser.feed(CHUNKED[:-5])
    with pytest.raises(MalformedResponse, match="closed before"):
        parser.eof()


# -- other framings


def test_content_length_body_split_anywhere() -> None:
    for cut in range(len(HEAD), len(SIZED) + 1):
        parser = ResponseParser()
        assert feed_all(parser, [SIZED[:cut], SIZED[cut:]]) == b"".join(EVENTS)
        assert parser.done


def test_more_body_than_content_length_is_refused() -> None:
    with pytest.raises(MalformedResponse, match="content-length"):
        ResponseParser().feed(SIZED + b"x")


def test_a_body_delimited_by_the_close_ends_at_eof() -> None:
    parser = ResponseParser()
    assert feed_all(parser, [b"HTTP/1.1 500 Oops\r\n\r\nfirst ", b"second"]) == b"first second"
    assert not parser.done
    parser.eof()
    assert parser.done
    assert parser.head is not None and parser.head.status == 500


def test_an_empty_content_length_body_is_done_with_the_head() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == b""
    assert parser.done


def test_no_body_statuses_and_interim_responses() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert parser.done
    assert parser.head is not None and parser.head.status == 204


def test_a_head_that_never_ends_is_refused() -> None:
    parser = ResponseParser()
    with pytest.raises(MalformedResponse, match="too large"):
        for _ in range(100):
            parser.feed(b"X-Filler: " + b"a" * 1000 + b"\r\n")
