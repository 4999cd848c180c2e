"""What the lifespan builds and every request reads: config, HTTP sessions, recorder, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from ccp_core.catalogue import Catalogue
from ccp_core.egress import DIRECT, Egress
from ccp_core.metrics import Metrics
from ccp_shared.config import Config, ProviderConfig
from ccp_shared.records import RequestRecord


class RecorderLike(Protocol):
    """The recorder contract (``ccp_core.recorder``); tests pass small fakes of it."""

    def start(self) -> None: ...
    def submit(self, record: RequestRecord) -> None: ...
    def stop(self, timeout: float = 10.0) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def database_ok(self) -> bool: ...


@dataclass(slots=True)
class CoreState:
    config: Config
    recorder: RecorderLike
    catalogue: Catalogue
    metrics: Metrics = field(default_factory=Metrics)
    sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)
    # The forward proxy per provider, when HTTPS_PROXY and friends name one (ccp_core.egress).
    egress: dict[str, Egress] = field(default_factory=dict)

    def session_for(self, provider: ProviderConfig) -> aiohttp.ClientSession:
        return self.sessions[provider.name]

    def egress_for(self, provider: ProviderConfig) -> Egress:
        return self.egress.get(provider.name, DIRECT)
