from __future__ import annotations

from ccp_core.headers import downstream_headers, header_dict, upstream_headers
from ccp_shared.config import ProviderConfig

ANTHROPIC = ProviderConfig("anthropic", "https://api.anthropic.com")


def test_header_dict_lowercases_and_joins_repeats() -> None:
    raw = [(b"X-A", b"1"), (b"x-a", b"2"), (b"Accept", b"*/*")]
    assert header_dict(raw) == {"x-a": "1, 2", "accept": "*/*"}


def test_hop_by_hop_headers_stay_on_their_hop() -> None:
    received = {
        "host": "localhost:3000",
        "connection": "keep-alive, x-private",
        "keep-alive": "timeout=5",
        "x-private": "named by Connection",
        "transfer-encoding": "chunked",
        "content-length": "10",
        "te": "trailers",
        "upgrade": "h2c",
        "proxy-authorization": "Basic abc",
        "anthropic-beta": "claude-code-20250219",
        "anthropic-version": "2023-06-01",
        "x-claude-code-session-id": "s1",
    }
    assert upstream_headers(received, ANTHROPIC) == {
        "anthropic-beta": "claude-code-20250219",
        "anthropic-version": "2023-06-01",
        "x-claude-code-session-id": "s1",
    }


def test_client_credentials_pass_unchanged_without_a_provider_key() -> None:
    received = {"authorization": "Bearer sk-ant-oat01-abc", "x-api-key": "sk-ant-api-xyz"}
    assert upstream_headers(received, ANTHROPIC) == received


def test_provider_key_replaces_client_credentials_as_x_api_key() -> None:
    provider = ProviderConfig("zai", "https://api.z.ai/api/anthropic", api_key="zk-1")
    sent = upstream_headers({"authorization": "Bearer client", "x-api-key": "client"}, provider)
    assert sent == {"x-api-key": "zk-1"}


def test_provider_key_replaces_client_credentials_as_bearer() -> None:
    provider = ProviderConfig("zai", "https://x", api_key="zk-1", header_mode="bearer")
    sent = upstream_headers({"x-api-key": "client", "accept": "application/json"}, provider)
    assert sent == {"accept": "application/json", "authorization": "Bearer zk-1"}


def test_downstream_headers_keep_end_to_end_ones_and_add_the_request_id() -> None:
    raw = [
        (b"Content-Type", b"text/event-stream"),
        (b"Content-Length", b"123"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Connection", b"keep-alive"),
        (b"request-id", b"req_1"),
        (b"anthropic-ratelimit-tokens-remaining", b"99"),
        (b"retry-after", b"3"),
        (b"x-should-retry", b"true"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]
    assert downstream_headers(raw, "abc") == [
        (b"content-type", b"text/event-stream"),
        (b"request-id", b"req_1"),
        (b"anthropic-ratelimit-tokens-remaining", b"99"),
        (b"retry-after", b"3"),
        (b"x-should-retry", b"true"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"ccp-request-id", b"abc"),
    ]


def test_expect_is_answered_here_and_not_sent_upstream() -> None:
    received = {"expect": "100-continue", "anthropic-version": "2023-06-01"}
    assert upstream_headers(received, ANTHROPIC) == {"anthropic-version": "2023-06-01"}


def test_utf8_values_are_read_as_utf8_and_other_bytes_as_latin1() -> None:
    raw = [(b"x-note", "café ✓".encode()), (b"x-legacy", b"caf\xe9")]
    assert header_dict(raw) == {"x-note": "café ✓", "x-legacy": "café"}
    # The text re-encodes to what came in: UTF-8 for the first, latin-1 (as documented) for the
    # second, whose bytes are not UTF-8.
    assert header_dict(raw)["x-note"].encode("utf-8") == "café ✓".encode()
    assert header_dict(raw)["x-legacy"].encode("latin-1") == b"caf\xe9"
