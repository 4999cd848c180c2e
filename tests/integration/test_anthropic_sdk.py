"""The official anthropic SDK against a real proxy-core: what it sees is what gets recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from tests.integration.core_process import base_url, fetch_record, running_core
from tests.integration.stack import Service
from tests.support.fake_upstream import FakeUpstream, reply_text

pytestmark = pytest.mark.integration

KEY = "sk-ant-sdk-test"
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Say hi"}]


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(events=7, pace_ms=2) as up:
        yield up


@pytest.fixture
def core(data_dir: Path, upstream: FakeUpstream) -> Iterator[Service]:
    with running_core(data_dir, upstream.url) as service:
        yield service


@pytest.fixture
def client(core: Service) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=base_url(core), api_key=KEY, max_retries=0) as sdk:
        yield sdk


def test_messages_create(
    client: anthropic.Anthropic, upstream: FakeUpstream, data_dir: Path
) -> None:
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES
    )
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == reply_text(7)
    row = fetch_record(data_dir / "ccp.db", raw.headers["ccp-request-id"])
    assert row["status"] == "ok" and row["stream"] == 0
    assert row["model"] == message.model
    assert row["input_tokens"] == message.usage.input_tokens
    assert row["output_tokens"] == message.usage.output_tokens
    assert row["cache_read_input_tokens"] == message.usage.cache_read_input_tokens
    assert row["cache_creation_input_tokens"] == message.usage.cache_creation_input_tokens
    assert row["stop_reason"] == message.stop_reason
    # Whichever way this SDK version sends its key, it arrives upstream unchanged.
    seen = upstream.requests[0].headers
    assert seen.get("x-api-key") == KEY or seen.get("authorization") == f"Bearer {KEY}"


def test_messages_stream(client: anthropic.Anthropic, data_dir: Path) -> None:
    with client.messages.stream(
        model="claude-opus-5-5", max_tokens=64, messages=MESSAGES
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["ccp-request-id"]
    assert text == reply_text(7)
    row = fetch_record(data_dir / "ccp.db", request_id)
    assert row["status"] == "ok" and row["stream"] == 1
    assert row["model"] == final.model
    assert row["input_tokens"] == final.usage.input_tokens
    assert row["output_tokens"] == final.usage.output_tokens
    assert row["cache_read_input_tokens"] == final.usage.cache_read_input_tokens
    assert row["cache_creation_input_tokens"] == final.usage.cache_creation_input_tokens
    assert row["stop_reason"] == final.stop_reason
    assert row["ttft_ms"] is not None


def test_upstream_error_reaches_the_sdk_as_its_own_exception(
    client: anthropic.Anthropic, upstream: FakeUpstream, data_dir: Path
) -> None:
    upstream.mode = "overloaded529"
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model="claude-opus-5-5", max_tokens=8, messages=MESSAGES)
    assert caught.value.status_code == 529
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    row = fetch_record(data_dir / "ccp.db", caught.value.response.headers["ccp-request-id"])
    assert row["status"] == "upstream_error" and row["error_type"] == "overloaded_error"


def test_models_list_through_the_sdk(client: anthropic.Anthropic) -> None:
    ids = [model.id for model in client.models.list(limit=1000)]
    assert "claude-opus-5-5" in ids
