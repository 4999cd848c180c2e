"""A pure, incremental Server-Sent Events parser and the watcher that reads Anthropic's events.

No I/O here: bytes go in, facts come out, so chunk boundaries can fall anywhere (mid-line,
between ``\\r`` and ``\\n``) and property tests can split a stream at random. Only the events that
carry facts (``message_start``, ``message_delta``, ``error``) are JSON-decoded; deltas are merely
noticed, which keeps the tee cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from ccp_core.summary import ResponseSummary


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: bytes


def split_lines(text: bytes) -> tuple[list[bytes], bytes]:
    """(complete lines, the unfinished rest) of ``text``; CRLF, LF and a lone CR each end a line.

    A trailing CR stays in the rest: it may be the first half of a CRLF, so the next byte decides.
    """
    held = b"\r" if text.endswith(b"\r") else b""
    if held:
        text = text[:-1]
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = text.split(b"\n")
    return lines, lines.pop() + held


class SSEParser:
    """Frames a byte stream into events per the WHATWG EventSource rules."""

    __slots__ = ("_data", "_event", "_pending")

    def __init__(self) -> None:
        # The unfinished line: grown in place, so a long line costs time linear in its length.
        self._pending = bytearray()
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        pending = self._pending
        # Only the new bytes are scanned for a line end; a held CR ends a line whatever follows.
        ends_line = b"\n" in chunk or b"\r" in chunk or pending.endswith(b"\r")
        pending += chunk
        if not ends_line:
            return []
        lines, rest = split_lines(bytes(pending))
        self._pending = bytearray(rest)
        events: list[SSEEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    @property
    def idle(self) -> bool:
        """Between events: no unfinished line, no field of an event not yet dispatched."""
        return not self._pending and not self._data and not self._event

    def close(self) -> list[SSEEvent]:
        """End of stream. Lenient: an event cut off before its blank line is still delivered."""
        pending, self._pending = bytes(self._pending), bytearray()
        lines = [pending[:-1] if pending.endswith(b"\r") else pending] if pending else []
        events = [self._line(line) for line in [*lines, b""]]
        return [event for event in events if event is not None]

    def _line(self, line: bytes) -> SSEEvent | None:
        if not line:
            if not self._data:  # an event without data lines is not dispatched
                self._event = ""
                return None
            event = SSEEvent(self._event or "message", b"\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line[0] == 0x3A:  # ":" starts a comment
            return None
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        return None


_FACT_EVENTS = frozenset({"message_start", "message_delta", "error"})
# Every event carrying a fact names itself in its bytes (its ``event:`` line or its ``type``).
_FACT_MARKERS = (b"message_start", b"message_delta", b"error")


class StreamWatcher:
    """Reads the facts out of an Anthropic event stream as it passes by."""

    __slots__ = ("_parser", "saw_delta", "summary")

    def __init__(self) -> None:
        self._parser = SSEParser()
        self.summary = ResponseSummary()
        self.saw_delta = False

    def feed(self, chunk: bytes) -> None:
        if self.saw_delta and self._parser.idle and _whole_events_without_facts(chunk):
            # Most of a stream: deltas we only needed to notice once. Framing them would cost
            # more than everything else the tee does.
            return
        for event in self._parser.feed(chunk):
            self._observe(event)

    def close(self) -> None:
        for event in self._parser.close():
            self._observe(event)

    def _observe(self, event: SSEEvent) -> None:
        name = event.event
        if name == "message":
            name = _type_of(event.data)
        if name == "content_block_delta":
            self.saw_delta = True
            return
        if name not in _FACT_EVENTS:
            return
        payload = orjson.loads(event.data)
        if name == "message_start":
            self.summary.apply_message(
                payload.get("message") if isinstance(payload, dict) else None
            )
        elif name == "message_delta":
            self.summary.apply_delta(payload)
        else:
            self.summary.apply_error(payload)


def _whole_events_without_facts(chunk: bytes) -> bool:
    """Complete events only (a blank line ends the chunk), none of them naming a fact."""
    return chunk.endswith(b"\n\n") and not any(marker in chunk for marker in _FACT_MARKERS)


def _type_of(data: bytes) -> str:
    """The event type of a stream that omits ``event:`` lines, found without decoding deltas."""
    head = data[:64]
    for name in ("content_block_delta", "message_start", "message_delta", "error"):
        if f'"type":"{name}"'.encode() in head or f'"type": "{name}"'.encode() in head:
            return name
    return "message"
