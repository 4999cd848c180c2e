from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from yarl import URL

from ccp_core.egress import egress_for
from ccp_core.errors import BodyTooLarge, InvalidRequest
from ccp_core.exchange import Exchange
from ccp_core.forward import ClientGone, open_upstream, parse_request, plan, read_body
from ccp_shared.config import ProviderConfig
from tests.unit.core.test_exchange import SCOPE, make_core

ACCOUNT = "0a1b2c3d-0000-4000-8000-000000000001"
LEGACY_SESSION = "a7fef5e5-c038-416e-a21a-9d947304b249"


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
    assert parse_request(body) == ("claude-x", True, None)
    assert parse_request(b'{"model": "m"}') == ("m", False, None)
    assert parse_request(b'{"model": "m", "stream": "yes"}').stream is False
    assert parse_request(b'{"model": "m", "metadata": "odd"}').body_session is None


def test_a_body_the_fast_reader_refuses_is_judged_by_orjson() -> None:
    # msgspec gives up at about 1,000 levels of nesting, orjson at 1,024: a body in between is
    # JSON, and is read in full instead of being refused.
    nested = b"[" * 1010 + b"]" * 1010
    body = b'{"model": "m", "stream": true, "deep": ' + nested + b', "metadata": {"user_id": '
    body += orjson.dumps(orjson.dumps({"session_id": "deep-session"}).decode()) + b"}}"
    parsed = parse_request(body)
    assert (parsed.model, parsed.stream, parsed.body_session) == ("m", True, "deep-session")


@pytest.mark.parametrize(
    "metadata",
    [
        b'{"n": 1e400}',
        # msgspec gives up past ~1,000 levels, orjson reads up to 1,024: read in full by orjson.
        b'{"deep": ' + b"[" * 1010 + b"]" * 1010 + b"}",
        # 300 levels here, and another field past msgspec's limit: the metadata comes from the
        # full read and must not be written back (orjson writes at most 255 levels).
        b'{"deep": ' + b"[" * 300 + b"]" * 300 + b"}, " + b'"pad": ' + b"[" * 1010 + b"]" * 1010,
    ],
    ids=["number-orjson-refuses", "nested-past-msgspec", "nested-metadata-beside-deep-field"],
)
def test_metadata_orjson_cannot_read_names_no_session_and_is_no_error(
    tmp_path: Path, metadata: bytes
) -> None:
    body = b'{"model": "m", "metadata": ' + metadata + b"}"
    assert parse_request(body).body_session is None
    core, _ = make_core(tmp_path)
    exchange = Exchange(core, {**SCOPE, "headers": []})
    plan(core, exchange.record, body)
    assert exchange.record.session_id is None
    assert exchange.record.model_requested == "m"


JSON_USER_ID = orjson.dumps(
    {"device_id": "d" * 64, "account_uuid": "acc", "session_id": "json-session"}
).decode()
LEGACY_USER_ID = f"user_{'ab' * 32}_account_{ACCOUNT}_session_{LEGACY_SESSION}"


@pytest.mark.parametrize(
    ("user_id", "session"),
    [(JSON_USER_ID, "json-session"), (LEGACY_USER_ID, LEGACY_SESSION), ("someone", None)],
)
def test_the_session_is_read_from_metadata_user_id(user_id: str, session: str | None) -> None:
    body = orjson.dumps({"model": "m", "metadata": {"user_id": user_id}})
    assert parse_request(body).body_session == session


def plan_session(tmp_path: Path, headers: list[tuple[bytes, bytes]], user_id: str) -> str | None:
    core, _ = make_core(tmp_path)
    exchange = Exchange(core, {**SCOPE, "headers": headers})
    plan(core, exchange.record, orjson.dumps({"model": "m", "metadata": {"user_id": user_id}}))
    return exchange.record.session_id


def test_a_request_without_the_session_header_gets_its_session_from_the_body(
    tmp_path: Path,
) -> None:
    assert plan_session(tmp_path, [], JSON_USER_ID) == "json-session"
    assert plan_session(tmp_path, [], LEGACY_USER_ID) == LEGACY_SESSION


def test_the_session_header_wins_over_the_body(tmp_path: Path) -> None:
    header = [(b"x-claude-code-session-id", b"header-session")]
    assert plan_session(tmp_path, header, JSON_USER_ID) == "header-session"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"messages": []}', "model"),
        (b'{"model": 5}', "model"),
        (b'{"model": ""}', "model"),
        (b'{"model": "m", "messages": [}', "not valid JSON"),
        (b'{"model": "m", "note": "\xff"}', r"not UTF-8 \(byte 0xff at offset 24\)"),
        (b"\x1f\x8b\x08\x00", r"not UTF-8 \(byte 0x8b at offset 1\); is it compressed\?"),
        (b'{"model": "m"} trailing', "not valid JSON"),
        (b'{"model": "m", "note": "cut \\ud83d"}', "not valid JSON: no low surrogate"),
        (b'{"model": "m", "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_bad_bodies_are_400s(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_request(body)


class RecordingSession:
    """Stands in for the aiohttp session: keeps what ``post`` was asked to send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def post(self, url: Any, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        return None


@pytest.mark.parametrize(
    ("base_url", "in_request"),
    [("https://api.example.com", False), ("http://api.example.com", True)],
)
def test_proxy_credentials_reach_the_proxy_and_never_go_into_a_tunnel(
    base_url: str, in_request: bool
) -> None:
    # aiohttp sends proxy_headers on the CONNECT of an https request only; a plain-HTTP request
    # goes to the proxy itself, so it must carry them. Inside a tunnel they would reach the
    # provider.
    proxy = "http://me:pw@proxy.corp:3128"
    egress = egress_for(base_url, {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy})
    session = RecordingSession()
    provider = ProviderConfig("anthropic", base_url)
    headers = {"x-api-key": "sk-ant-0000"}
    url = f"{base_url}/v1/messages"
    asyncio.run(open_upstream(cast(Any, session), provider, url, headers, b"{}", egress))
    (sent,) = session.sent
    assert sent["proxy"] == URL("http://proxy.corp:3128")
    credentials = {"Proxy-Authorization": "Basic bWU6cHc="}  # me:pw
    assert sent["proxy_headers"] == (None if in_request else credentials)
    assert (sent["headers"].get("Proxy-Authorization") == credentials["Proxy-Authorization"]) is (
        in_request
    )
    assert headers == {"x-api-key": "sk-ant-0000"}  # the caller's dict is left as it was
