"""Request bodies stored as a difference from the last one their session stored whole.

Claude Code resends the whole conversation every turn: the tools and system prompt (most of a
first turn's 50 KB) and the history, where only the ``cache_control`` marker moves. So a body is
stored either whole, or as the bytes that differ from a *keyframe* (an earlier body of the same
session, agent, model and path, stored whole):

    body = keyframe[:prefix] + middle + keyframe[len(keyframe) - suffix:]

counted in UTF-8 bytes, cut only between characters, so ``middle`` is text like any body. A
keyframe is always stored whole, so rebuilding a body reads at most one other row, and a body
becomes a new keyframe once its difference would be more than ``MAX_MIDDLE_SHARE`` of it: as a
session grows, keyframes grow with it. docs/adr/0004-request-bodies-as-deltas.md has the why.

Pure functions and one bounded cache; the writer (``store.insert_records``) and every reader use
only these, so what is on disk is defined here.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

# A body is stored as a difference only when that keeps at most this share of its bytes.
MAX_MIDDLE_SHARE = 0.25
# Shorter bodies are stored whole: the saving would not pay for the lookups.
MIN_BODY_BYTES = 4096
# Compared a block at a time (slices of bytes: a copy and a memcmp each, where memoryviews would
# compare byte by byte), then bisected inside the first differing block.
_BLOCK = 8192


@dataclass(frozen=True, slots=True)
class Delta:
    base: str  # the keyframe's request id
    prefix: int
    suffix: int
    middle: bytes


def common_prefix(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix of ``a`` and ``b``."""
    limit = min(len(a), len(b))
    start = 0
    while start + _BLOCK <= limit and a[start : start + _BLOCK] == b[start : start + _BLOCK]:
        start += _BLOCK
    low, high = start, min(start + _BLOCK, limit)
    # Invariant: a[:low] == b[:low]; the answer is in [low, high].
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """Length of the longest common suffix of ``a`` and ``b``, at most ``limit``."""
    limit = min(limit, len(a), len(b))
    end_a, end_b = len(a), len(b)
    done = 0
    while (
        done + _BLOCK <= limit
        and a[end_a - done - _BLOCK : end_a - done] == b[end_b - done - _BLOCK : end_b - done]
    ):
        done += _BLOCK
    low, high = done, min(done + _BLOCK, limit)
    while low < high:
        middle = (low + high + 1) // 2
        if a[end_a - middle : end_a - low] == b[end_b - middle : end_b - low]:
            low = middle
        else:
            high = middle - 1
    return low


def _continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def difference(body: bytes, base_id: str, base: bytes) -> Delta | None:
    """``body`` as a difference from the keyframe ``base``, or None when it should be whole.

    Both must be valid UTF-8; the cuts are moved to character boundaries so the middle is too.
    """
    if len(body) < MIN_BODY_BYTES:
        return None
    prefix = common_prefix(body, base)
    # The suffix may not overlap the prefix in either body.
    suffix = common_suffix(body, base, min(len(body), len(base)) - prefix)
    while prefix and prefix < len(body) and _continuation(body[prefix]):
        prefix -= 1
    end = len(body) - suffix
    while end < len(body) and _continuation(body[end]):
        end += 1
    if end - prefix > MAX_MIDDLE_SHARE * len(body):
        return None
    return Delta(base_id, prefix, len(body) - end, body[prefix:end])


def rebuild(
    middle: bytes | None,
    base_id: str | None,
    base: bytes | None,
    prefix: int | None,
    suffix: int | None,
) -> bytes | None:
    """The body a stored row stands for: ``middle`` itself when the row is whole (no base id);
    None when its keyframe is missing, which the writer never lets happen."""
    if base_id is None:
        return middle
    if middle is None or base is None or prefix is None or suffix is None:
        return None
    return base[:prefix] + middle + base[len(base) - suffix :]


# What a reader selects to rebuild request bodies, from ``request_bodies AS b`` joined with
# ``KEYFRAME_JOIN``; ``request_body_of`` takes the row. Bytes, not text: orjson parses UTF-8.
REQUEST_BODY_COLUMNS = (
    "CAST(b.request_body AS BLOB) AS request_body, b.request_body_base, "
    "CAST(k.request_body AS BLOB) AS keyframe_body, b.request_body_prefix, b.request_body_suffix"
)
KEYFRAME_JOIN = "LEFT JOIN request_bodies AS k ON k.request_id = b.request_body_base"
# Rows of ``request_bodies AS b`` (joined with ``KEYFRAME_JOIN``) that cannot be rebuilt: stored as
# a difference from a keyframe that is gone or is not whole, or with their offsets missing.
# proxy-core never writes one; a hand-made DELETE can make them.
UNREBUILDABLE = (
    "b.request_body_base IS NOT NULL AND (k.request_id IS NULL OR k.request_body_base IS NOT NULL"
    " OR b.request_body_prefix IS NULL OR b.request_body_suffix IS NULL)"
)
UNREBUILDABLE_COUNT_SQL = (
    f"SELECT count(*) FROM request_bodies AS b {KEYFRAME_JOIN} WHERE {UNREBUILDABLE}"
)


def request_body_of(row: sqlite3.Row) -> bytes | None:
    """The request body of a row selected with ``REQUEST_BODY_COLUMNS``."""
    return rebuild(
        row["request_body"],
        row["request_body_base"],
        row["keyframe_body"],
        row["request_body_prefix"],
        row["request_body_suffix"],
    )


class Keyframes:
    """The last body each session stored whole, bounded by their total size (least recent out).

    Holds only bodies that are committed whole: the writer adds them after its transaction."""

    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._frames: OrderedDict[Hashable, tuple[str, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: Hashable) -> tuple[str, bytes] | None:
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
        return frame

    def put(self, key: Hashable, request_id: str, body: bytes) -> None:
        self.discard(key)
        if len(body) > self.max_bytes:
            return
        self._frames[key] = (request_id, body)
        self.bytes += len(body)
        while self.bytes > self.max_bytes:
            _, (_, dropped) = self._frames.popitem(last=False)
            self.bytes -= len(dropped)

    def discard(self, key: Hashable) -> None:
        frame = self._frames.pop(key, None)
        if frame is not None:
            self.bytes -= len(frame[1])

    def clear(self) -> None:
        self._frames.clear()
        self.bytes = 0
