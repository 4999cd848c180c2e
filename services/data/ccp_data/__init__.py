"""proxy-data: indexer, rollups, search and the JSON APIs over ccp's SQLite database."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ccp")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"
