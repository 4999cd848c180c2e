"""proxy-core: the gateway between Messages API clients (Claude Code, SDKs) and providers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ccp")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"
