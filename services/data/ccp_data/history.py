"""The last copy of each recent conversation's history, so a resend is hashed only where it is new.

Claude Code resends the whole conversation every turn, and building the chain hashes of every
message (canonical JSON of each, then SHA-256) grows with the history. The message objects of a
resend are equal to the previous turn's, except the few at the end (the new turn, and the one the
``cache_control`` marker moved off). ``Histories.messages`` compares the new items with the last
turn's, in C (``==`` on the parsed JSON), and reuses the already-built messages of the equal
prefix: a message is a pure function of its item and the chain before it, so the result is the
same as building every message again. (Python's ``==`` also equates ``1``, ``1.0`` and ``true``,
which serialise differently; a client resending its own history does not change such types.)
The cache is only a guess of where to look; a wrong guess costs a rebuild, never a wrong hash.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

from ccp_data.conversations import Message, chain_of

# Threads remembered: more than a user runs at once (main thread and subagents).
DEFAULT_SIZE = 64
# And the request bytes their histories came in, together: a long conversation's history is a few
# MB, and its parsed form takes about 1.5 times the JSON, so this caps the cache near 50 MB
# however long the conversations grow. The least recent threads go first.
DEFAULT_BYTES = 32 * 1024 * 1024

Item = dict[str, Any]


def shared_prefix(old: Sequence[Item], new: Sequence[Item]) -> int:
    """How many leading items the two lists have equal."""
    count = 0
    for a, b in zip(old, new, strict=False):
        if a is not b and a != b:
            break
        count += 1
    return count


class _Last(NamedTuple):
    items: Sequence[Item]
    messages: list[Message]
    size: int


class Histories:
    """A small LRU of (items, messages) of the last turn, keyed by whatever names a thread, bounded
    by count and by the bytes of the bodies they were parsed from."""

    def __init__(self, size: int = DEFAULT_SIZE, max_bytes: int = DEFAULT_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self._last: OrderedDict[Hashable, _Last] = OrderedDict()

    def messages(self, key: Hashable | None, items: Sequence[Item], size: int) -> list[Message]:
        """``chain_of(items)``, reusing the messages of the prefix shared with ``key``'s last;
        ``size`` is the length of the body ``items`` came from, what remembering them costs."""
        if key is None:
            return chain_of(items)
        last = self._last.pop(key, None)
        if last is not None:
            self.bytes -= last.size
        known = last.messages[: shared_prefix(last.items, items)] if last else []
        messages = chain_of(items, known)
        if size <= self.max_bytes:  # a history larger than the whole cache is not remembered
            self._last[key] = _Last(items, messages, size)
            self.bytes += size
        while len(self._last) > self.size or self.bytes > self.max_bytes:
            self.bytes -= self._last.popitem(last=False)[1].size
        return messages
