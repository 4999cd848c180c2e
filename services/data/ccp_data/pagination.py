"""Opaque keyset cursors and the ``limit`` parameter.

A cursor is the sort key of the last row a page returned (e.g. ``(ts_start, seq)``), encoded as
URL-safe base64 of JSON so clients treat it as opaque. Decoding checks the shape and types, so a
hand-edited or truncated cursor is a 400, never a 500 or a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence

import orjson

from ccp_shared.errors import InvalidRequest

Key = int | float | str
KeyTypes = tuple[type, ...]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# SQLite binds integers as signed 64-bit; a larger one is an OverflowError, not a 400.
_INT_LIMIT = 2**63 - 1


def encode_cursor(key: Sequence[Key]) -> str:
    raw = orjson.dumps(list(key))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(token: str | None, types: KeyTypes) -> tuple[Key, ...] | None:
    """The key ``encode_cursor`` was given, checked against ``types``; ``None`` for no cursor."""
    if token is None or token == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidRequest("cursor: not a cursor this API returned") from None
    if not isinstance(key, list) or len(key) != len(types):
        raise InvalidRequest("cursor: not a cursor this API returned")
    checked: list[Key] = []
    for value, kind in zip(key, types, strict=True):
        if isinstance(value, bool) or not _fits(value, kind):
            raise InvalidRequest("cursor: not a cursor this API returned")
        checked.append(float(value) if kind is float else value)
    return tuple(checked)


def _fits(value: object, kind: type) -> bool:
    if isinstance(value, int) and not -_INT_LIMIT <= value <= _INT_LIMIT:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def parse_limit(raw: str | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequest(
            f"limit: expected an integer from 1 to {maximum}, got {raw!r}"
        ) from None
    if not 1 <= limit <= maximum:
        raise InvalidRequest(f"limit: expected an integer from 1 to {maximum}, got {limit}")
    return limit
