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
from typing import Any

from ccp_data.conversations import Message, chain_of

# Threads remembered: more than a user runs at once (main thread and subagents). Each holds one
# parsed history, up to a few MB for a long conversation, so the bound is also a memory bound.
DEFAULT_SIZE = 64

Item = dict[str, Any]


def shared_prefix(old: Sequence[Item], new: Sequence[Item]) -> int:
    """How many leading items the two lists have equal."""
    count = 0
    for a, b in zip(old, new, strict=False):
        if a is not b and a != b:
            break
        count += 1
    return count


class Histories:
    """A small LRU of (items, messages) of the last turn, keyed by whatever names a thread."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._last: OrderedDict[Hashable, tuple[Sequence[Item], list[Message]]] = OrderedDict()

    def messages(self, key: Hashable | None, items: Sequence[Item]) -> list[Message]:
        """``chain_of(items)``, reusing the messages of the prefix shared with ``key``'s last."""
        if key is None:
            return chain_of(items)
        last = self._last.pop(key, None)
        known = last[1][: shared_prefix(last[0], items)] if last else []
        messages = chain_of(items, known)
        self._last[key] = (items, messages)
        if len(self._last) > self.size:
            self._last.popitem(last=False)
        return messages
