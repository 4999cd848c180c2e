from ccp_core.providers import choose_provider, upstream_url
from ccp_shared.config import load_config


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


def test_force_haiku_to_zai_without_a_zai_provider_keeps_anthropic() -> None:
    config = load_config(environ={"FORCE_HAIKU_TO_ZAI": "1"})
    provider, route, _ = choose_provider(config, "claude-haiku-4-5")
    assert (provider.name, route) == ("anthropic", "default")
