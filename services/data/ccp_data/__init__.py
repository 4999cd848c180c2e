"""proxy-data: indexer, rollups, search and the JSON APIs over ccp's SQLite database."""

from ccp_shared import __version__

__all__ = ["__version__"]
