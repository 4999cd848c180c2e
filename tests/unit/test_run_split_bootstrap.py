"""run-split.sh's bootstrap: the first run creates .venv and installs, a changed pyproject.toml
reinstalls, and ``stop``/``status`` never install (a failed reinstall must not keep a running stack
from stopping). The script runs from a copy in a temporary "repository" whose Python is a stub
that logs what it is asked: no package is installed and nothing is fetched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The stub interpreter: ``-m venv DIR`` makes DIR/bin/python (this same stub); ``-m pip`` is logged
# and, unless STUB_PIP_FAILS is set, "installs" (an empty bin/proxy-core beside it); anything else
# (the version check, run-split's inline programs) runs on the real interpreter, so resolving the
# configuration works as it does for real.
STUB = """#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG"
if [[ $1 == -m && $2 == venv ]]; then
	mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && chmod +x "$3/bin/python"
	exit 0
fi
if [[ $1 == -m && $2 == pip ]]; then
	[[ -z ${STUB_PIP_FAILS:-} ]] || exit 1
	touch "$(dirname "$0")/proxy-core" && chmod +x "$(dirname "$0")/proxy-core"
	exit
fi
if [[ -n ${STUB_TOO_OLD:-} && $1 == -c && $2 == *version_info* ]]; then
	exit 1
fi
exec "$REAL_PYTHON" "$@"
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "run-split.sh", root / "run-split.sh")
    (root / "pyproject.toml").write_text("[project]\nname = 'stub'\n")
    stub = tmp_path / "python-stub"
    stub.write_text(STUB)
    stub.chmod(0o755)
    return root


def run(repo: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("CCP_", "RUN_SPLIT_", "DATA_DIR"))
    }
    environ |= {
        "PYTHON": str(repo.parent / "python-stub"),
        "STUB_LOG": str(repo.parent / "calls.log"),
        "REAL_PYTHON": sys.executable,
        # Ports nothing listens on, so `status` finds no service of another stack.
        "CCP_PORT": "9",
        "CCP_CORE_PORT": "9",
        "CCP_DATA_PORT": "9",
        **env,
    }
    return subprocess.run(
        ["bash", "-c", script],
        cwd=repo,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def calls(repo: Path) -> list[str]:
    log = repo.parent / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def pip_calls(repo: Path) -> list[str]:
    return [line for line in calls(repo) if line.startswith("-m pip")]


def ensure_venv(repo: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run(repo, "source ./run-split.sh && ensure_venv", **env)


def later(path: Path, seconds: float = 5) -> None:
    stamp = time.time() + seconds
    os.utime(path, (stamp, stamp))


def test_the_first_run_creates_the_venv_and_installs_once(repo: Path) -> None:
    done = ensure_venv(repo)
    assert done.returncode == 0, done.stderr
    assert f"creating {repo / '.venv'}" in done.stdout
    assert pip_calls(repo) == [f"-m pip install -q -e {repo}"]
    assert (repo / ".venv" / ".installed-run").is_file()
    assert not (repo / ".venv" / ".installed").exists()  # the Makefile's stamp is not faked

    again = ensure_venv(repo)
    assert again.returncode == 0 and again.stdout == ""
    assert len(pip_calls(repo)) == 1


def test_a_changed_pyproject_reinstalls_and_the_makefiles_stamp_counts(repo: Path) -> None:
    assert ensure_venv(repo).returncode == 0
    later(repo / "pyproject.toml")
    assert "pyproject.toml changed" in ensure_venv(repo).stdout
    assert len(pip_calls(repo)) == 2

    later(repo / "pyproject.toml", 10)
    (repo / ".venv" / ".installed").touch()
    later(repo / ".venv" / ".installed", 20)  # `make` installed it since
    assert ensure_venv(repo).returncode == 0
    assert len(pip_calls(repo)) == 2


def test_a_failed_install_stops_the_start_and_is_retried_next_time(repo: Path) -> None:
    failed = run(repo, "./run-split.sh start", STUB_PIP_FAILS="1")
    assert failed.returncode != 0
    assert f"pip install -e {repo} failed" in failed.stderr
    assert not (repo / ".venv" / ".installed-run").exists()
    assert not (repo / "data").exists()  # nothing was migrated or started
    assert ensure_venv(repo).returncode == 0
    assert len(pip_calls(repo)) == 2


def test_an_old_python_is_refused_before_anything_is_created(repo: Path) -> None:
    done = ensure_venv(repo, STUB_TOO_OLD="1")
    assert done.returncode != 0
    assert "older than 3.11" in done.stderr and "PYTHON=python3.11" in done.stderr
    assert not (repo / ".venv").exists()


@pytest.mark.parametrize("command", ["stop", "status"])
def test_stop_and_status_never_install(repo: Path, command: str) -> None:
    missing = run(repo, f"./run-split.sh {command}")
    assert missing.returncode != 0
    assert f"ccp is not installed in {repo / '.venv'}" in missing.stderr
    assert calls(repo) == []

    failed = run(repo, "source ./run-split.sh && ensure_venv", STUB_PIP_FAILS="1")
    assert failed.returncode != 0  # a venv without ccp in it: still not installed
    assert "ccp is not installed" in run(repo, f"./run-split.sh {command}").stderr

    assert ensure_venv(repo).returncode == 0
    later(repo / "pyproject.toml")  # a `git pull` changed it while the stack runs
    pips = len(pip_calls(repo))
    done = run(repo, f"./run-split.sh {command}", STUB_PIP_FAILS="1")
    assert len(pip_calls(repo)) == pips  # no install
    assert "installing" not in done.stdout and "pip" not in done.stderr
    # The command itself ran, on the configuration the real interpreter resolved.
    expected = "not running" if command == "stop" else "front: http://localhost:9"
    assert expected in done.stdout + done.stderr
