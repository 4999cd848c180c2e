"""proxy-core: the gateway between Messages API clients (Claude Code, SDKs) and providers."""

# The distribution's version, kept in one place: reading it from the installed metadata would
# load importlib.metadata (email, zipfile, csv: ~1 MB of RSS) into every proxy-core for one string.
from ccp_shared import __version__

__all__ = ["__version__"]
