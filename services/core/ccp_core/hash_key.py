"""The secret key of credential hashes: ``security.hash_key``, else ``DATA_DIR/hash.key``.

The file is created once (random, mode 0600) and then reused, so a key hashes the same way across
restarts and usage stays grouped per key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ccp_shared.config import Config, ConfigError

HASH_KEY_FILE = "hash.key"
KEY_BYTES = 32


def load_hash_key(config: Config) -> bytes:
    configured = str(config["security.hash_key"])
    if configured:
        return configured.encode("utf-8")
    return read_or_create_key_file(config.data_dir / HASH_KEY_FILE)


def read_or_create_key_file(path: Path) -> bytes:
    try:
        if not path.exists():
            _create_key_file(path)
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"security.hash_key: cannot read {path} ({exc}); restore it or delete it to start "
            "a new key (earlier key hashes will no longer match)"
        ) from None
    if len(key) < 16:
        raise ConfigError(f"security.hash_key: {path} holds a key shorter than 16 bytes")
    return key


def _create_key_file(path: Path) -> None:
    """Write the key to a private temporary file and link it in, so no reader sees it half-written
    and two processes starting together agree on one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(KEY_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
