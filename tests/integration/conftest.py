"""The full front stack (Caddy, proxy-core, proxy-data, a fake upstream), one per test module.

Modules that need a stack of their own (killed services, special settings) define ``upstream``,
``stack`` or ``client`` themselves, which takes precedence over these.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.stack import Stack
from tests.support.fake_upstream import FakeUpstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(events=5) as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("stack") / "data", upstream.url) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client on the front, with the headers Claude Code sends on every request."""
    headers = {"x-api-key": "sk-ant-test-0000", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=stack.front_url, headers=headers, timeout=30) as http:
        yield http
