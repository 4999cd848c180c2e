"""HTTP/1.1 framing for the load generator: the request bytes, and a response parser.

Pure code, no I/O. ``ResponseParser`` is fed the bytes of one response as they arrive and hands
back the decoded body (chunked framing removed) as it comes, so the caller can watch the stream:
a chunk split across reads comes out part by part, as soon as each part is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_LINE = 64 * 1024
# The load generator frames each request itself; a caller's copy of these would contradict it.
FRAMING_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})
NO_BODY = frozenset({204, 304})
HEX_DIGITS = b"0123456789abcdefABCDEF"


class MalformedResponse(Exception):
    """The server's bytes are not a response this parser can frame."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    request: bytes  # head and body, built once and written as is for every request


def build_request(url: str, headers: dict[str, str], body: bytes) -> Target:
    """A keep-alive ``POST`` of ``body`` to ``url`` (plain http only)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the load generator speaks plain http only, not {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in FRAMING_HEADERS]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return Target(parts.hostname, parts.port or 80, head + body)


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    headers: dict[str, str]  # names lower-case; repeated headers joined with ", "
    keep_alive: bool
    length: int | None  # Content-Length; None when chunked or delimited by the close
    chunked: bool


def parse_head(raw: bytes) -> Head:
    """The status line and headers of a response (without the blank line that ends them)."""
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise MalformedResponse(f"bad status line {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise MalformedResponse(f"bad header line {line[:80]!r}")
        key, value = name.lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    tokens = {t.strip() for t in headers.get("connection", "").lower().split(",")}
    keep_alive = "close" not in tokens and (version == "HTTP/1.1" or "keep-alive" in tokens)
    codings = [t.strip() for t in headers.get("transfer-encoding", "").lower().split(",")]
    chunked = codings[-1] == "chunked"
    length = None
    if not chunked and "content-length" in headers:
        length = _content_length(headers["content-length"])
    # A body delimited by the close cannot leave the connection reusable.
    return Head(int(code), headers, keep_alive and (chunked or length is not None), length, chunked)


def _content_length(value: str) -> int:
    # Repeated identical values ("10, 10") are allowed by RFC 9110; anything else is not.
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not (only := values.pop()).isdigit():
        raise MalformedResponse(f"bad content-length {value[:40]!r}")
    return int(only)


def chunk_size(line: bytes) -> int:
    """The size on a chunk's first line; extensions after ``;`` are ignored."""
    digits = line.partition(b";")[0].strip()
    if not 0 < len(digits) <= 16 or digits.translate(None, HEX_DIGITS):
        raise MalformedResponse(f"bad chunk size line {line[:40]!r}")
    return int(digits, 16)


class ChunkedBody:
    """Removes chunked framing incrementally, across any split of the bytes; trailers skipped."""

    def __init__(self) -> None:
        self.done = False
        self._left = 0  # bytes of the current chunk's data still to come
        self._crlf = False  # the CRLF that closes a chunk's data is next
        self._trailers = False
        self._partial = b""  # an unfinished line (or CRLF) carried over to the next feed

    def feed(self, data: bytes) -> bytes:
        if self._partial:
            data, self._partial = self._partial + data, b""
        pieces: list[bytes] = []
        pos, end = 0, len(data)
        while pos < end and not self.done:
            if self._left:
                stop = pos + self._left
                if stop > end:
                    pieces.append(data[pos:])
                    self._left = stop - end
                    break
                pieces.append(data[pos:stop])
                pos, self._left, self._crlf = stop, 0, True
            elif self._crlf:
                if end - pos < 2:
                    self._partial = data[pos:]
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise MalformedResponse("chunk data longer than its size")
                pos, self._crlf = pos + 2, False
            else:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self._partial = data[pos:]
                    if len(self._partial) > MAX_LINE:
                        raise MalformedResponse("chunk framing line too long")
                    break
                line, pos = data[pos:eol], eol + 2
                if self._trailers:
                    self.done = not line
                else:
                    self._left = chunk_size(line)
                    self._trailers = self._left == 0
        if self.done and pos < end:
            raise MalformedResponse("bytes after the end of the response")
        return b"".join(pieces)


class ResponseParser:
    """One response: feed bytes as they arrive, take the decoded body out as it comes.

    ``head`` is set once the head is complete; ``done`` once the body is. A body delimited by
    the close ends with ``eof()``.
    """

    def __init__(self) -> None:
        self.head: Head | None = None
        self.done = False
        self._buf = b""
        self._chunked: ChunkedBody | None = None
        self._left = 0  # Content-Length bytes still to come

    def feed(self, data: bytes) -> bytes:
        """The decoded body bytes in ``data`` (b"" while the head is still arriving)."""
        if self.head is None:
            data = self._read_head(data)
            if self.head is None:
                return b""
        if self.done:
            if data:
                raise MalformedResponse("bytes after the end of the response")
            return b""
        if self._chunked is not None:
            body = self._chunked.feed(data)
            self.done = self._chunked.done
            return body
        if self.head.length is None:
            return data
        if len(data) > self._left:
            raise MalformedResponse("more body than content-length")
        self._left -= len(data)
        self.done = self._left == 0
        return data

    def eof(self) -> None:
        """The server closed the connection: the end of a close-delimited body, else an error."""
        if self.done:
            return
        if self.head is not None and self.head.length is None and self._chunked is None:
            self.done = True
            return
        raise MalformedResponse("connection closed before the response was complete")

    def _read_head(self, data: bytes) -> bytes:
        """Consume head bytes; returns what follows the head (the start of the body)."""
        buf = self._buf + data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise MalformedResponse("response head too large")
            self._buf = buf
            return b""
        self._buf = b""
        head = parse_head(buf[:end])
        if 100 <= head.status < 200:  # an interim response (100 Continue): the real one follows
            return self._read_head(buf[end + 4 :])
        self.head = head
        if head.status in NO_BODY:
            self.done = True
        elif head.chunked:
            self._chunked = ChunkedBody()
        elif head.length is not None:
            self._left = head.length
            self.done = head.length == 0
        return buf[end + 4 :]
