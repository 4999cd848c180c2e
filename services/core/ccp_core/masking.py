"""Masking of secrets in recorded headers, and the keyed hash that lets usage be grouped per key.

Pure functions: the recorder's writer thread calls ``mask_record`` on every record before it
reaches the database, the spool or a lite JSONL file, so a credential is never written in clear.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from ccp_shared.records import RequestRecord

ELLIPSIS = "…"
KEPT_CHARS = 4
# Below this length, showing the last 4 characters would reveal too much of the secret.
MIN_LENGTH_TO_KEEP_TAIL = 12
KEY_HASH_CHARS = 32

SECRET_HEADERS = frozenset(
    {"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"}
)
SECRET_NAME_PARTS = ("key", "token", "secret")
# Rate-limit headers name tokens ("…-tokens-remaining") but carry counts, not credentials.
NOT_SECRET_PREFIXES = ("anthropic-ratelimit-", "x-ratelimit-", "ratelimit")
AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})


# Cached: the writer thread asks about every header of every record, holding the GIL that the
# event loop needs, and the names repeat (a Claude Code request carries about twenty).
@functools.lru_cache(maxsize=4096)
def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    if lowered in SECRET_HEADERS:
        return True
    if lowered.startswith(NOT_SECRET_PREFIXES):
        return False
    return any(part in lowered for part in SECRET_NAME_PARTS)


def mask_secret(secret: str) -> str:
    """``"sk-ant-api03-…wxyz"`` → ``"…wxyz"``; short secrets are hidden entirely."""
    if len(secret) < MIN_LENGTH_TO_KEEP_TAIL:
        return ELLIPSIS
    return ELLIPSIS + secret[-KEPT_CHARS:]


def mask_auth_value(value: str) -> str:
    """Keep the scheme of an Authorization value: ``"Bearer abc…wxyz"`` → ``"Bearer …wxyz"``."""
    scheme, sep, token = value.strip().partition(" ")
    if not sep:
        return mask_secret(value)
    return f"{scheme} {mask_secret(token.strip())}"


def mask_header(name: str, value: str) -> str:
    if not is_secret_header(name):
        return value
    if name.lower() in AUTH_HEADERS:
        return mask_auth_value(value)
    return mask_secret(value)


def mask_headers(headers: Mapping[Any, Any] | None) -> dict[str, str]:
    """A copy of ``headers`` with every secret masked; names and values become strings."""
    if not isinstance(headers, Mapping):
        return {}
    return {str(name): mask_header(str(name), str(value)) for name, value in headers.items()}


def credential(headers: Mapping[str, Any] | None) -> str | None:
    """The client's credential: ``x-api-key``, else the token of ``Authorization: Bearer …``."""
    if not isinstance(headers, Mapping):
        return None
    api_key = authorization = ""
    for name, value in headers.items():
        lowered = str(name).lower()
        if lowered == "x-api-key":
            api_key = str(value).strip()
        elif lowered == "authorization":
            authorization = str(value).strip()
    if api_key:
        return api_key
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def key_hash(secret: str, hash_key: bytes) -> str:
    """HMAC-SHA256 of a credential: stable per key, useless to anyone without ``hash_key``."""
    digest = hmac.new(hash_key, secret.encode("utf-8", "replace"), hashlib.sha256)
    return digest.hexdigest()[:KEY_HASH_CHARS]


def mask_record(record: RequestRecord, hash_key: bytes) -> RequestRecord:
    """A copy of ``record`` safe to write: headers masked, ``key_hash`` filled from the raw ones."""
    hashed = record.key_hash
    if hashed is None:
        secret = credential(record.request_headers)
        hashed = key_hash(secret, hash_key) if secret else None
    return dataclasses.replace(
        record,
        key_hash=hashed,
        request_headers=mask_headers(record.request_headers),
        response_headers=mask_headers(record.response_headers),
    )
