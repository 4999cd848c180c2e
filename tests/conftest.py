"""Fixtures shared by every test: where things are, free ports, a migrated data directory, files
made read-only even for root."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ccp_shared.migrate import upgrade

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own empty directory, so a developer's ./ccp.toml or ./data never
    changes a result; paths into the repository go through REPO_ROOT."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def find_fixtures(repo_root: Path) -> Path:
    """The real Claude Code captures, kept beside the team handbook (../shared/fixtures)."""
    candidate = repo_root.parent / "shared" / "fixtures"
    if not any(candidate.glob("*.json")):
        # They are part of the test environment (CI provides them): a skip would quietly drop
        # every test that replays them.
        pytest.fail(f"the Claude Code fixtures are missing: expected *.json files in {candidate}")
    return candidate


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return find_fixtures(REPO_ROOT)


@pytest.fixture(scope="session")
def first_turn_body(fixtures_dir: Path) -> bytes:
    """A real first-turn request body, byte for byte as Claude Code sent it."""
    return next(fixtures_dir.glob("*first_turn.json")).read_bytes()


@pytest.fixture(scope="session")
def claude_code_headers(fixtures_dir: Path) -> dict[str, str]:
    import orjson

    data = orjson.loads(next(fixtures_dir.glob("*headers.json")).read_bytes())
    return {str(k): str(v) for k, v in data.items()}


@pytest.fixture
def get_free_port() -> Callable[[], int]:
    return free_port


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh DATA_DIR whose database is migrated to head."""
    directory = tmp_path / "data"
    upgrade(directory / "ccp.db")
    return directory


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[..., None]]:
    """``chattr +i``: read-only even for root (chmod is not), as a file a user's backup tool
    locked would be. Calling the fixture locks paths; they are unlocked again at teardown."""
    probe = tmp_path / "chattr-probe"
    probe.write_text("x")
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: cannot make a file read-only for root")
    if subprocess.run(["chattr", "+i", probe], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here (needs CAP_LINUX_IMMUTABLE and ext4-like fs)")
    subprocess.run(["chattr", "-i", probe], check=True)
    locked: list[Path] = []

    def lock(*paths: Path) -> None:
        subprocess.run(["chattr", "+i", *paths], check=True)
        locked.extend(paths)

    yield lock
    if locked:
        subprocess.run(["chattr", "-i", *locked], check=True)
