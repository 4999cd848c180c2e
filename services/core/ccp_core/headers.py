"""Which headers cross the proxy, in which direction, and with whose credentials.

End-to-end headers pass both ways unchanged; hop-by-hop headers (RFC 9110 §7.6.1, plus any the
``Connection`` header names) stay on their own hop. ``content-length`` and ``host`` belong to the
connection we open, so the HTTP client recomputes them.

Values are text: UTF-8 when the bytes are valid UTF-8, else latin-1 (which maps any byte). The HTTP
client writes header text as UTF-8, so valid UTF-8 (and ASCII, all that real clients send) reaches
the upstream byte for byte. A value that is not UTF-8 cannot: aiohttp takes no raw header bytes,
so its bytes 0x80-0xFF go upstream UTF-8-encoded (two bytes each); the record keeps them exactly
(``value.encode("latin-1")``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ccp_shared.config import ProviderConfig

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# We read the whole body before forwarding, so the client's ``Expect: 100-continue`` is answered
# already; sent upstream it would make the HTTP client wait for a 100 that never comes.
_REQUEST_ONLY = frozenset({"expect"})
_CREDENTIALS = frozenset({"x-api-key", "authorization"})
REQUEST_ID_HEADER = b"ccp-request-id"

RawHeaders = Iterable[tuple[bytes, bytes]]
# What HTTP forbids in a header value (RFC 9110 §5.5) and aiohttp refuses to write; the server
# in front of us lets some through (hypercorn does; Caddy does not).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _connection_tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def header_text(value: bytes) -> str:
    """A header value as text: UTF-8 if it is valid UTF-8, else latin-1 (see the module doc)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def header_dict(raw: RawHeaders) -> dict[str, str]:
    """Lowercase name → value; repeated headers joined with ", " as RFC 9110 allows."""
    result: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = header_text(value)
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result


def upstream_headers(received: dict[str, str], provider: ProviderConfig) -> dict[str, str]:
    """The headers to send upstream: end-to-end ones, with the provider's key if it has one."""
    dropped = HOP_BY_HOP | _REQUEST_ONLY | _connection_tokens(received.get("connection", ""))
    if provider.api_key:
        dropped = dropped | _CREDENTIALS
    headers = {name: value for name, value in received.items() if name not in dropped}
    if provider.api_key:
        if provider.header_mode == "bearer":
            headers["authorization"] = f"Bearer {provider.api_key}"
        else:
            headers["x-api-key"] = provider.api_key
    return headers


def control_character_header(headers: Mapping[str, str]) -> str | None:
    """The name of the first header whose value holds a control character, if any."""
    return next((name for name, value in headers.items() if _CONTROL.search(value)), None)


def downstream_headers(raw: RawHeaders, request_id: str) -> list[tuple[bytes, bytes]]:
    """Upstream response headers for the client, plus our ``ccp-request-id``.

    The body is relayed chunk by chunk, so the server frames it itself (chunked): the upstream's
    ``content-length``/``transfer-encoding`` are dropped with the other hop-by-hop headers.
    """
    pairs = [(name.lower(), value) for name, value in raw]
    dropped = set(HOP_BY_HOP)
    for name, value in pairs:
        if name == b"connection":
            dropped |= _connection_tokens(value.decode("latin-1"))
    headers = [(name, value) for name, value in pairs if name.decode("latin-1") not in dropped]
    headers.append((REQUEST_ID_HEADER, request_id.encode("ascii")))
    return headers
