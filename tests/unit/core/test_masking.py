from __future__ import annotations

import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccp_core.masking import (
    credential,
    is_secret_header,
    key_hash,
    mask_header,
    mask_headers,
    mask_record,
)
from ccp_shared.records import RequestRecord

HASH_KEY = b"k" * 32
API_KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz-WXYZ"


@pytest.mark.parametrize(
    "name",
    [
        "x-api-key",
        "X-Api-Key",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-goog-api-key",
        "x-auth-token",
        "client-secret",
        "anthropic-session-token",
    ],
)
def test_secret_headers(name: str) -> None:
    assert is_secret_header(name)
    assert mask_header(name, "abcdefghijklmnop1234").endswith("…1234")
    assert "abcdefghijklmnop" not in mask_header(name, "abcdefghijklmnop1234")


@pytest.mark.parametrize(
    "name",
    [
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-output-tokens-reset",
        "x-ratelimit-remaining-tokens",
        "ratelimit-remaining",
        "content-type",
        "x-claude-code-session-id",
        "anthropic-beta",
        "keep-alive",
    ],
)
def test_headers_that_are_not_secrets_are_kept(name: str) -> None:
    assert not is_secret_header(name)
    assert mask_header(name, "123456789012345") == "123456789012345"


def test_api_key_keeps_its_last_four_characters() -> None:
    assert mask_header("x-api-key", API_KEY) == "…WXYZ"


def test_bearer_token_keeps_the_scheme() -> None:
    assert mask_header("authorization", f"Bearer {API_KEY}") == "Bearer …WXYZ"
    assert mask_header("Authorization", "Basic dXNlcjpwYXNzd29yZA==") == "Basic …ZA=="


def test_short_secrets_are_hidden_entirely() -> None:
    assert mask_header("x-api-key", "abc12345") == "…"
    assert mask_header("authorization", "Bearer abc") == "Bearer …"


def test_claude_code_headers_leak_nothing(claude_code_headers: dict[str, str]) -> None:
    raw = {name.lower(): value for name, value in claude_code_headers.items()}
    masked = mask_headers(raw)
    assert masked["x-api-key"] == "…0000"
    assert raw["x-api-key"] not in masked.values()
    unchanged = {name for name in raw if name != "x-api-key"}
    assert {name: masked[name] for name in unchanged} == {name: raw[name] for name in unchanged}


def test_mask_headers_tolerates_odd_input() -> None:
    assert mask_headers(None) == {}
    assert mask_headers({"x-count": 3}) == {"x-count": "3"}


def test_credential_prefers_x_api_key_then_bearer() -> None:
    assert credential({"x-api-key": "key-1", "authorization": "Bearer tok-2"}) == "key-1"
    assert credential({"authorization": "Bearer tok-2"}) == "tok-2"
    assert credential({"Authorization": "bearer tok-3"}) == "tok-3"
    assert credential({"authorization": "Basic abc"}) is None
    assert credential({}) is None
    assert credential(None) is None


def test_key_hash_is_a_keyed_hmac() -> None:
    digest = key_hash(API_KEY, HASH_KEY)
    assert digest == hmac.new(HASH_KEY, API_KEY.encode(), "sha256").hexdigest()[:32]
    assert key_hash(API_KEY, b"another key of 32 bytes........") != digest
    assert key_hash("other", HASH_KEY) != digest


def test_mask_record_hashes_the_raw_credential_and_masks_both_header_sets() -> None:
    record = RequestRecord(
        id="r1",
        ts_start=1.0,
        request_headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
        response_headers={"set-cookie": "session=abcdefghijklmnop", "request-id": "req_1"},
    )
    masked = mask_record(record, HASH_KEY)
    assert masked.key_hash == key_hash(API_KEY, HASH_KEY)
    assert masked.request_headers == {"x-api-key": "…WXYZ", "anthropic-version": "2023-06-01"}
    assert masked.response_headers == {"set-cookie": "…mnop", "request-id": "req_1"}
    assert record.request_headers["x-api-key"] == API_KEY  # the caller's record is not changed


def test_mask_record_keeps_a_key_hash_already_set() -> None:
    record = RequestRecord(id="r1", ts_start=1.0, key_hash="given", request_headers={})
    assert mask_record(record, HASH_KEY).key_hash == "given"
    assert mask_record(RequestRecord(id="r2", ts_start=1.0), HASH_KEY).key_hash is None


@given(
    name=st.sampled_from(["x-api-key", "authorization", "cookie", "x-secret-thing"]),
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=12),
)
def test_a_masked_value_never_contains_the_secret(name: str, secret: str) -> None:
    value = f"Bearer {secret}" if name == "authorization" else secret
    assert secret not in mask_header(name, value)
