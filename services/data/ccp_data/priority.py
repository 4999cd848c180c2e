"""proxy-data's CPU priority: below proxy-core's, so indexing and dashboards yield to proxy traffic.

A nice value alone is not enough on Linux with ``sched_autogroup`` on (the default on Debian and
Ubuntu): the scheduler first shares the cores between sessions' autogroups, and a nice value
only weighs against processes of the same session. run-split.sh starts each service in a session
of its own (``setsid``), so there the autogroup's nice is set too: that is what weighs against
proxy-core's. Only when proxy-data leads its session, though: started from a shell, the
autogroup is the shell's whole session (proxy-core perhaps among it), which is not ours to lower.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(increment: int) -> int:
    """Raise this process's nice value by ``increment`` (and its autogroup's); the new value."""
    niceness = os.nice(increment)
    if increment > 0 and os.getsid(0) == os.getpid() and AUTOGROUP.exists():
        try:
            AUTOGROUP.write_text(f"{niceness}\n")
        except OSError as exc:
            # Autogroups off, or not allowed: the process nice still applies within the session.
            log.info("could not lower the autogroup's priority: %s", exc)
    return niceness
