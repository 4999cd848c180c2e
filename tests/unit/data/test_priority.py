"""proxy-data lowers its own priority, and its autogroup's only when it leads its session."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ccp_data.priority import AUTOGROUP

pytestmark = pytest.mark.skipif(not AUTOGROUP.exists(), reason="no scheduler autogroups here")

PROBE = (
    "import os; from ccp_data.priority import lower_priority; "
    "n = lower_priority(7); print(n, open('/proc/self/autogroup').read().split()[-1])"
)


def run_probe(*, new_session: bool) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=new_session,
        timeout=30,
    )
    niceness, group = done.stdout.split()
    return int(niceness), int(group)


def test_a_session_leader_lowers_its_autogroup_too() -> None:
    expected = min(os.getpriority(os.PRIO_PROCESS, 0) + 7, 19)
    assert run_probe(new_session=True) == (expected, expected)


def test_a_process_sharing_its_session_leaves_the_autogroup_alone() -> None:
    group_nice = int(AUTOGROUP.read_text().split()[-1])
    expected = min(os.getpriority(os.PRIO_PROCESS, 0) + 7, 19)
    assert run_probe(new_session=False) == (expected, group_nice)
