from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ccp_core.errors import BodyTooLarge, InvalidRequest
from ccp_core.forward import ClientGone, parse_request, read_body


def receiver(messages: list[dict[str, Any]]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def chunks(*parts: bytes) -> list[dict[str, Any]]:
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


def test_body_is_reassembled_from_chunks() -> None:
    body = asyncio.run(read_body(receiver(chunks(b"ab", b"", b"cd")), None, 10))
    assert body == b"abcd"


def test_declared_oversize_body_is_refused_before_reading() -> None:
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(receiver([]), "11", 10))


def test_oversize_body_is_refused_while_reading() -> None:
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(receiver(chunks(b"123456", b"78901")), None, 10))


def test_client_leaving_mid_body_is_noticed() -> None:
    with pytest.raises(ClientGone):
        messages = [*chunks(b"12", b"3")[:1], {"type": "http.disconnect"}]
        asyncio.run(read_body(receiver(messages), None, 10))


def test_model_and_stream_are_read_and_nothing_else_is_checked() -> None:
    body = b'{"model": "claude-x", "stream": true, "messages": [{"role": "system"}], "new": 1}'
    assert parse_request(body) == ("claude-x", True)
    assert parse_request(b'{"model": "m"}') == ("m", False)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"messages": []}', "model"),
        (b'{"model": 5}', "model"),
        (b'{"model": ""}', "model"),
    ],
)
def test_bad_bodies_are_400s(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_request(body)
