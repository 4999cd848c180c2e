"""Choosing the provider for a request: the seam the model-routing work plugs into.

Today every request goes to ``anthropic``; the signature already carries what routing needs
(the requested model in, a route name and an explainable decision out).
"""

from __future__ import annotations

from typing import Any

from ccp_shared.config import Config, ProviderConfig

DEFAULT_PROVIDER = "anthropic"
DEFAULT_ROUTE = "default"


def choose_provider(config: Config, body_model: str) -> tuple[ProviderConfig, str, dict[str, Any]]:
    """(provider, route name, decision) for a request asking for ``body_model``."""
    provider = config.providers[DEFAULT_PROVIDER]
    decision = {
        "route": DEFAULT_ROUTE,
        "provider": provider.name,
        "model": body_model,
        "reason": "default provider",
    }
    return provider, DEFAULT_ROUTE, decision


def upstream_url(provider: ProviderConfig, path: str) -> str:
    """The provider's URL for a proxied path; a base URL may carry a path prefix (Z.ai's does)."""
    return provider.base_url + path
