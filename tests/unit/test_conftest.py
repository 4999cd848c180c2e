"""The shared fixtures hold the test environment to what CI has."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, find_fixtures


def test_tests_run_in_an_empty_directory_of_their_own(tmp_path: Path) -> None:
    # A ./ccp.toml or ./data in the developer's checkout must not reach load_config's defaults.
    assert Path.cwd() == tmp_path != REPO_ROOT
    assert list(tmp_path.iterdir()) == []


def test_missing_claude_code_fixtures_fail_instead_of_skipping(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="fixtures are missing"):
        find_fixtures(tmp_path / "repo")


def test_fixtures_are_found_beside_the_repository() -> None:
    assert any(find_fixtures(REPO_ROOT).glob("*headers.json"))
