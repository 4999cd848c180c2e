from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ccp_shared.config import (
    SETTINGS,
    ConfigError,
    ModelPrice,
    load_config,
    parse_duration,
    require_db_dir,
)


@pytest.fixture(autouse=True)
def no_stray_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ./ccp.toml is read when present: run every test where there is none.
    monkeypatch.chdir(tmp_path)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ccp.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_settings_table(tmp_path: Path) -> None:
    config = load_config(environ={})
    for setting in SETTINGS:
        if setting.kind != "path":
            assert config[setting.key] == setting.default, setting.key
    assert config.data_dir == tmp_path / "data"
    assert config.db_path == tmp_path / "data" / "ccp.db"
    assert config.persist is True
    assert set(config.providers) == {"anthropic"}


@pytest.mark.parametrize(
    ("in_toml", "in_env", "in_flags", "expected"),
    [
        (False, False, False, 3002),
        (True, False, False, 4000),
        (False, True, False, 5000),
        (True, True, False, 5000),
        (False, False, True, 6000),
        (True, False, True, 6000),
        (False, True, True, 6000),
        (True, True, True, 6000),
    ],
)
def test_precedence_defaults_toml_env_flags(
    tmp_path: Path, in_toml: bool, in_env: bool, in_flags: bool, expected: int
) -> None:
    config_file = toml(tmp_path, "data_port = 4000\n") if in_toml else None
    environ = {"CCP_DATA_PORT": "5000"} if in_env else {}
    flags: dict[str, Any] = {"data_port": 6000} if in_flags else {"data_port": None}
    config = load_config(flags=flags, environ=environ, config_file=config_file)
    assert config["data_port"] == expected


def test_the_config_file_comes_from_ccp_config_or_the_working_directory(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text("core_port = 4101\n")
    assert load_config(environ={"CCP_CONFIG": str(other)})["core_port"] == 4101
    toml(tmp_path, "core_port = 4102\n")
    assert load_config(environ={})["core_port"] == 4102


def test_a_provider_key_is_trimmed_and_one_with_a_control_character_refused() -> None:
    base = {"CCP_PROVIDERS__OAI__BASE_URL": "https://api.example.com"}
    config = load_config(environ={**base, "CCP_PROVIDERS__OAI__API_KEY": " sk-test\n"})
    assert config.providers["oai"].api_key == "sk-test"
    with pytest.raises(ConfigError) as raised:
        load_config(environ={**base, "CCP_PROVIDERS__OAI__API_KEY": "sk-te\nst-secret"})
    message = str(raised.value)
    assert message.startswith("providers.oai.api_key: contains a control character")
    assert "secret" not in message


def test_env_nesting_declares_a_provider() -> None:
    config = load_config(
        environ={
            "CCP_PROVIDERS__OAI__BASE_URL": "https://api.openai.com/v1/",
            "CCP_PROVIDERS__OAI__FORMAT": "openai",
            "CCP_PROVIDERS__OAI__API_KEY": "sk-test",
            "CCP_STORAGE__BUSY_TIMEOUT": "500ms",
        }
    )
    oai = config.providers["oai"]
    assert oai.base_url == "https://api.openai.com/v1"
    assert (oai.format, oai.api_key) == ("openai", "sk-test")
    assert config["storage.busy_timeout"] == 0.5


def test_legacy_variables(tmp_path: Path) -> None:
    config = load_config(
        environ={
            "DATA_DIR": str(tmp_path / "d"),
            "CCP_PERSIST": "0",
            "CCP_DB_PATH": str(tmp_path / "other.db"),
            "CCP_ROLLUP_INTERVAL": "5m",
            "CCP_ROLLUP_RETENTION_DAYS": "7",
            "FORCE_HAIKU_TO_ZAI": "1",
            "ZAI_API_KEY": "zai-key",
            "ZAI_HEADER_MODE": "bearer",
        }
    )
    assert config.data_dir == tmp_path / "d"
    assert config.persist is False
    assert config.db_path == tmp_path / "other.db"
    assert config["rollup.interval"] == 300.0
    assert config["rollup.retention_days"] == 7
    assert config["routing.force_haiku_to_zai"] is True
    zai = config.providers["zai"]
    assert (zai.api_key, zai.header_mode) == ("zai-key", "bearer")
    assert zai.base_url == "https://api.z.ai/api/anthropic"


def test_paths_expand_variables_and_become_absolute(tmp_path: Path) -> None:
    config = load_config(
        flags={"storage.db_path": "${STATE}/x/ccp.db", "data_dir": "rel/data"},
        environ={"STATE": "/srv/state"},
    )
    assert config.db_path == Path("/srv/state/x/ccp.db")
    assert config.data_dir == tmp_path / "rel" / "data"
    with pytest.raises(ConfigError, match=r"storage\.db_path: \$\{NOPE\} is not set"):
        load_config(flags={"storage.db_path": "${NOPE}/ccp.db"}, environ={})


def test_the_default_database_follows_the_data_dir(tmp_path: Path) -> None:
    config = load_config(environ={"DATA_DIR": "/var/ccp"})
    assert config.db_path == Path("/var/ccp/ccp.db")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2.0), ("5m", 300.0), ("1h", 3600.0), ("1.5", 1.5), (" 3 s ", 3.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ("toml:bogus = 1", "bogus"),
        ("toml:[storage]\nbogus = 1", "storage.bogus"),
        ("toml:data_port = 'abc'", "data_port"),
        ("toml:data_port = true", "data_port"),
        ("toml:[storage]\npersist = 'maybe'", "storage.persist"),
        ("toml:[rollup]\ninterval = '5 weeks'", "rollup.interval"),
        ("toml:port = 70000", "port"),
        ("env:CCP_BOGUS=1", "CCP_BOGUS"),
        ("env:CCP_CORE_PORT=x", "core_port"),
        ("env:CCP_PROVIDERS__ANTHROPIC__FORMAT=grpc", "providers.anthropic.format"),
        ("env:CCP_PROVIDERS__OAI__COLOUR=red", "CCP_PROVIDERS__OAI__COLOUR"),
        ("env:CCP_PRICING__X__INPUT=cheap", "pricing.x.input"),
    ],
)
def test_unknown_keys_and_wrong_types_name_the_key(tmp_path: Path, source: str, key: str) -> None:
    kind, _, text = source.partition(":")
    with pytest.raises(ConfigError) as raised:
        if kind == "toml":
            load_config(environ={}, config_file=toml(tmp_path, text + "\n"))
        else:
            name, _, value = text.partition("=")
            load_config(environ={name: value})
    assert key in str(raised.value)


def test_pricing_from_toml_keeps_dots_in_model_names(tmp_path: Path) -> None:
    path = toml(tmp_path, '[pricing."claude-3.5-test"]\ninput = 1\noutput = 2.5\n')
    config = load_config(environ={}, config_file=path)
    assert config.pricing["claude-3.5-test"] == ModelPrice(input=1.0, output=2.5)


def test_a_missing_config_file_or_db_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(environ={}, config_file=tmp_path / "absent.toml")
    config = load_config(environ={"DATA_DIR": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match=r"mkdir -p .*missing.*ccp db upgrade"):
        require_db_dir(config)


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "error", "critical"])
def test_log_levels_are_accepted_in_any_case(level: str) -> None:
    assert load_config(environ={"CCP_LOG_LEVEL": level})["log_level"] == level


@pytest.mark.parametrize("level", ["verbose", "", "warn "])
def test_an_unknown_log_level_is_a_config_error_naming_the_key(level: str) -> None:
    with pytest.raises(ConfigError, match=r"^log_level: unknown level .*critical"):
        load_config(environ={"CCP_LOG_LEVEL": level})


def test_force_haiku_to_zai_needs_a_zai_key() -> None:
    with pytest.raises(ConfigError, match="ZAI_API_KEY"):
        load_config(environ={"FORCE_HAIKU_TO_ZAI": "1"})
    with pytest.raises(ConfigError, match=r"providers\.zai\.api_key.*ZAI_API_KEY"):
        load_config(environ={"FORCE_HAIKU_TO_ZAI": "true", "ZAI_HEADER_MODE": "bearer"})
    assert load_config(environ={"FORCE_HAIKU_TO_ZAI": "1", "ZAI_API_KEY": "k"}).providers["zai"]
