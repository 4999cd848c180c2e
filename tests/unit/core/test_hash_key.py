from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ccp_core.hash_key import HASH_KEY_FILE, load_hash_key
from ccp_shared.config import ConfigError, load_config


def test_configured_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    config = load_config(
        flags={"data_dir": str(tmp_path), "security.hash_key": "s3cret"}, environ={}
    )
    assert load_hash_key(config) == b"s3cret"
    assert not (tmp_path / HASH_KEY_FILE).exists()


def test_key_file_is_created_private_once_and_reused(tmp_path: Path) -> None:
    config = load_config(flags={"data_dir": str(tmp_path / "data")}, environ={})
    first = load_hash_key(config)
    path = tmp_path / "data" / HASH_KEY_FILE
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_hash_key(config) == first
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_two_data_dirs_get_different_keys(tmp_path: Path) -> None:
    one = load_hash_key(load_config(flags={"data_dir": str(tmp_path / "a")}, environ={}))
    two = load_hash_key(load_config(flags={"data_dir": str(tmp_path / "b")}, environ={}))
    assert one != two


def test_a_damaged_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / HASH_KEY_FILE).write_text("not hex at all\n")
    config = load_config(flags={"data_dir": str(tmp_path)}, environ={})
    with pytest.raises(ConfigError, match=HASH_KEY_FILE):
        load_hash_key(config)
