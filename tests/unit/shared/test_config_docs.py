"""docs/configuration.md and ccp_shared.config describe the same settings, in both directions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ccp_shared.config import (
    LEGACY_ENV,
    PRICE_FIELDS,
    PROVIDER_FIELDS,
    SETTINGS,
    load_config,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
# A table row whose first cell is a backticked key: | `storage.db_path` | …
# Variables read by the scripts (CCP_CONFIG, RUN_SPLIT_*) are listed after this heading.
SCRIPT_VARIABLES_HEADING = "\n## Not settings"
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)$", re.MULTILINE)


def env_name(key: str) -> str:
    return "CCP_" + key.upper().replace(".", "__")


@pytest.fixture(scope="module")
def rows() -> dict[str, str]:
    """First cell → the rest of the row, for every table row of the settings sections."""
    settings_part = DOC.read_text(encoding="utf-8").split(SCRIPT_VARIABLES_HEADING)[0]
    return {key: rest for key, rest in ROW.findall(settings_part)}


def test_every_setting_has_a_row_naming_its_environment_variable(rows: dict[str, str]) -> None:
    missing = [s.key for s in SETTINGS if s.key not in rows]
    wrong_env = [s.key for s in SETTINGS if s.key in rows and env_name(s.key) not in rows[s.key]]

    assert missing == [], f"add these keys to {DOC.name}"
    assert wrong_env == [], "each row must name the key's CCP_ environment variable"


def test_every_provider_and_price_field_is_documented(rows: dict[str, str]) -> None:
    provider_keys = {f"providers.<name>.{name}" for name in PROVIDER_FIELDS}
    price_keys = {f"pricing.<model>.{name}" for name in PRICE_FIELDS}

    assert provider_keys - rows.keys() == set()
    assert price_keys - rows.keys() == set()


def test_every_legacy_environment_name_is_documented_with_its_key(rows: dict[str, str]) -> None:
    undocumented = [name for name, key in LEGACY_ENV.items() if key not in rows.get(name, "")]

    assert undocumented == [], "each legacy name needs a row: | `NAME` | `dotted.key` … |"


def test_the_document_lists_no_setting_that_does_not_exist(rows: dict[str, str]) -> None:
    known = (
        {s.key for s in SETTINGS}
        | {f"providers.<name>.{name}" for name in PROVIDER_FIELDS}
        | {f"pricing.<model>.{name}" for name in PRICE_FIELDS}
        | set(LEGACY_ENV)
    )

    assert set(rows) - known == set(), "stale rows in docs/configuration.md"


def test_documented_environment_names_are_accepted_by_the_loader() -> None:
    # Guards the naming rule the document teaches (CCP_ + key, dots as double underscores).
    environ = {env_name("indexer.batch_size"): "7", env_name("proxy.idle_timeout"): "15m"}

    config = load_config(environ=environ, config_file=None)

    assert config["indexer.batch_size"] == 7
    assert config["proxy.idle_timeout"] == 900.0
