from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from ccp_shared.bodies import (
    MAX_MIDDLE_SHARE,
    MIN_BODY_BYTES,
    Keyframes,
    common_prefix,
    common_suffix,
    difference,
    rebuild,
)


def naive_prefix(a: bytes, b: bytes) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def naive_suffix(a: bytes, b: bytes, limit: int) -> int:
    n = 0
    while n < min(limit, len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


@pytest.mark.parametrize("seed", range(40))
def test_prefix_and_suffix_agree_with_a_byte_by_byte_scan(seed: int) -> None:
    rng = random.Random(seed)
    base = rng.randbytes(rng.choice([0, 1, 100, 8191, 8192, 8193, 30_000]))
    body = bytearray(base)
    # Change a few bytes anywhere, including at block edges, and sometimes grow or shrink it.
    for _ in range(rng.randint(0, 3)):
        if body:
            body[rng.randrange(len(body))] ^= 0xFF
    if rng.random() < 0.5:
        at = rng.randint(0, len(body))
        body[at:at] = rng.randbytes(rng.randint(1, 9000))
    other = bytes(body)
    assert common_prefix(other, base) == naive_prefix(other, base)
    limit = rng.randint(0, len(other))
    assert common_suffix(other, base, limit) == naive_suffix(other, base, limit)


def turns(fixtures_dir: Path) -> list[bytes]:
    capture = orjson.loads(next(fixtures_dir.glob("*tool_session.json")).read_bytes())
    return [orjson.dumps(exchange["body"]) for exchange in capture]


def test_a_claude_code_turn_is_stored_as_a_fifth_of_itself(fixtures_dir: Path) -> None:
    first, second = turns(fixtures_dir)
    delta = difference(second, "first", first)
    assert delta is not None and delta.base == "first"
    # The tools and system prompt are the suffix; what is new is the history's tail.
    assert delta.suffix > 30_000
    assert len(delta.middle) < 0.25 * len(second)
    assert rebuild(delta.middle, "first", first, delta.prefix, delta.suffix) == second


def test_the_same_body_again_is_stored_as_nothing(first_turn_body: bytes) -> None:
    delta = difference(first_turn_body, "k", first_turn_body)
    assert delta is not None and delta.middle == b""
    assert rebuild(b"", "k", first_turn_body, delta.prefix, delta.suffix) == first_turn_body


def test_short_or_unrelated_bodies_are_stored_whole(first_turn_body: bytes) -> None:
    assert difference(b'{"model": "m"}', "k", b'{"model": "m"}') is None
    assert MIN_BODY_BYTES > len(b'{"model": "m"}')
    unrelated = bytes(reversed(first_turn_body))
    assert difference(unrelated, "k", first_turn_body) is None
    # Just over the share: whole; just under: a difference.
    base = b"a" * 10_000
    assert difference(b"b" * int(MAX_MIDDLE_SHARE * 10_000 + 2) + base[2600:], "k", base) is None
    assert difference(b"b" * 2000 + base[2000:], "k", base) is not None


def test_cuts_fall_between_characters_so_the_middle_is_text() -> None:
    # The bodies differ inside a 4-byte character: the cut moves back to its first byte.
    base = ("x" * 5000 + "\U0001f600" + "y" * 5000).encode()
    body = ("x" * 5000 + "\U0001f601" + "y" * 5000).encode()
    delta = difference(body, "k", base)
    assert delta is not None
    assert delta.middle.decode() == "\U0001f601"
    # And inside a 2-byte one at the end of the difference (é = c3 a9, è = c3 a8).
    base = ("é" * 3000).encode()
    body = ("é" * 1500 + "è" + "é" * 1499).encode()
    delta = difference(body, "k", base)
    assert delta is not None and delta.middle.decode() == "è"
    assert rebuild(delta.middle, "k", base, delta.prefix, delta.suffix) == body


def test_a_row_whose_keyframe_is_missing_is_not_passed_off_as_the_body() -> None:
    assert rebuild(b"whole", None, None, None, None) == b"whole"
    assert rebuild(b"middle", "gone", None, 10, 10) is None


def test_keyframes_keep_the_latest_per_key_within_their_size() -> None:
    frames = Keyframes(max_bytes=100)
    frames.put("a", "1", b"x" * 40)
    frames.put("b", "2", b"x" * 40)
    frames.put("a", "3", b"y" * 40)  # replaces a's keyframe
    assert frames.get("a") == ("3", b"y" * 40)
    assert frames.bytes == 80
    frames.put("c", "4", b"z" * 40)  # over 100: the least recently used (b) goes
    assert frames.get("b") is None
    assert len(frames) == 2 and frames.bytes == 80
    frames.put("d", "5", b"w" * 101)  # larger than the whole cache: not kept
    assert frames.get("d") is None
    frames.clear()
    assert len(frames) == 0 and frames.bytes == 0
