from __future__ import annotations

import pytest

from ccp_core.providers import choose_provider, upstream_url
from ccp_shared.config import ConfigError, load_config


def test_every_model_goes_to_anthropic_by_default() -> None:
    config = load_config(environ={"ZAI_API_KEY": "zk-1"})
    provider, route, decision = choose_provider(config, "claude-haiku-4-5")
    assert (provider.name, route) == ("anthropic", "default")
    assert decision == {
        "route": "default",
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "reason": "default provider",
    }


def test_force_haiku_to_zai_sends_only_haiku_models_to_zai() -> None:
    config = load_config(environ={"FORCE_HAIKU_TO_ZAI": "1", "ZAI_API_KEY": "zk-1"})
    haiku, route, _ = choose_provider(config, "claude-3-5-Haiku-20241022")
    opus, _, _ = choose_provider(config, "claude-opus-5-5")
    assert (haiku.name, route, haiku.api_key) == ("zai", "force_haiku_to_zai", "zk-1")
    assert opus.name == "anthropic"
    assert upstream_url(haiku, "/v1/messages") == "https://api.z.ai/api/anthropic/v1/messages"


def test_force_haiku_to_zai_without_a_zai_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ZAI_API_KEY"):
        load_config(environ={"FORCE_HAIKU_TO_ZAI": "1"})


@pytest.mark.parametrize(
    "environ",
    [
        {"FORCE_HAIKU_TO_ZAI": "1", "ZAI_HEADER_MODE": "bearer"},
        {"FORCE_HAIKU_TO_ZAI": "1", "ZAI_API_KEY": ""},
        {"FORCE_HAIKU_TO_ZAI": "1", "CCP_PROVIDERS__ZAI__BASE_URL": "https://zai.example/api"},
    ],
)
def test_a_zai_provider_without_its_own_key_is_never_sent_the_clients_credentials(
    environ: dict[str, str],
) -> None:
    # Without a key, the client's Anthropic key or OAuth token would be passed through to Z.ai.
    with pytest.raises(ConfigError, match=r"providers\.zai\.api_key.*ZAI_API_KEY"):
        load_config(environ=environ)


def test_a_keyless_zai_provider_is_fine_while_nothing_routes_to_it() -> None:
    config = load_config(environ={"ZAI_HEADER_MODE": "bearer"})
    assert choose_provider(config, "claude-haiku-4-5")[0].name == "anthropic"
