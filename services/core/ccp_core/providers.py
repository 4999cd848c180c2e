"""Choosing the provider for a request: the seam the model-routing work plugs into.

Today a request goes to ``anthropic`` unless the legacy ``FORCE_HAIKU_TO_ZAI`` switch
(``routing.force_haiku_to_zai``) sends haiku models to the ``zai`` provider, Z.ai's
Anthropic-compatible API. The signature already carries what fuller routing needs: the requested
model in, a route name and an explainable decision out.
"""

from __future__ import annotations

from typing import Any

from ccp_shared.config import Config, ProviderConfig

DEFAULT_PROVIDER = "anthropic"
DEFAULT_ROUTE = "default"
HAIKU_ROUTE = "force_haiku_to_zai"


def choose_provider(config: Config, body_model: str) -> tuple[ProviderConfig, str, dict[str, Any]]:
    """(provider, route name, decision) for a request asking for ``body_model``."""
    if (
        config["routing.force_haiku_to_zai"]
        and "haiku" in body_model.lower()
        and "zai" in config.providers
    ):
        route, provider = HAIKU_ROUTE, config.providers["zai"]
        reason = "FORCE_HAIKU_TO_ZAI: haiku models go to zai"
    else:
        route, provider = DEFAULT_ROUTE, config.providers[DEFAULT_PROVIDER]
        reason = "default provider"
    decision = {"route": route, "provider": provider.name, "model": body_model, "reason": reason}
    return provider, route, decision


def upstream_url(provider: ProviderConfig, path: str) -> str:
    """The provider's URL for a proxied path; a base URL may carry a path prefix (Z.ai's does)."""
    return provider.base_url + path
