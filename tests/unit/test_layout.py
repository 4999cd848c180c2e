"""The two services never import each other: the per-package ruff rule must catch it."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"


def ruff_on(path_in_repo: str, source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUFF), "check", "--no-cache", "--stdin-filename", path_in_repo, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )


@pytest.mark.parametrize(
    ("path_in_repo", "source", "banned"),
    [
        ("services/core/ccp_core/probe.py", "import ccp_data\n", "ccp_data"),
        ("services/core/ccp_core/probe.py", "from ccp_data.app import create_app\n", "ccp_data"),
        ("services/data/ccp_data/probe.py", "import ccp_core.app\n", "ccp_core"),
        ("services/data/ccp_data/probe.py", "from ccp_core import forward\n", "ccp_core"),
    ],
)
def test_a_service_importing_the_other_fails_lint(
    path_in_repo: str, source: str, banned: str
) -> None:
    result = ruff_on(path_in_repo, source)
    assert result.returncode == 1, result.stdout
    assert "TID251" in result.stdout and banned in result.stdout


@pytest.mark.parametrize(
    "path_in_repo", ["services/core/ccp_core/probe.py", "services/data/ccp_data/probe.py"]
)
def test_both_services_may_import_shared(path_in_repo: str) -> None:
    result = ruff_on(
        path_in_repo, "from ccp_shared.config import load_config\n\nCONFIG = load_config()\n"
    )
    assert result.returncode == 0, result.stdout
