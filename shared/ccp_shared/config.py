"""Configuration: one table of settings, loaded as defaults < TOML file < environment < flags.

Each setting has a dotted key, a kind, a default and a help line (``SETTINGS``). Two sections are
open-ended: ``providers.<name>.*`` and ``pricing.<model>.*``. Environment variables use the
``CCP_`` prefix with ``__`` for nesting (``CCP_PROVIDERS__ZAI__API_KEY``); a few legacy names
from older shims are honoured too (``LEGACY_ENV``). Unknown keys and wrong types raise
``ConfigError`` naming the key, so a typo fails at start-up instead of being ignored.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "CCP_"
CONFIG_ENV = "CCP_CONFIG"
DEFAULT_CONFIG_FILE = "ccp.toml"


class ConfigError(ValueError):
    """A configuration value is unknown, malformed or unusable; the message names the key."""


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    kind: str  # str | int | bool | duration | path | float
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "path", "./data", "Directory for the database, spool, records, logs."),
    Setting("host", "str", "127.0.0.1", "Address the front (Caddy) listens on."),
    Setting("port", "int", 3000, "Port of the Caddy front."),
    Setting("core_port", "int", 3001, "Port of proxy-core."),
    Setting("data_port", "int", 3002, "Port of proxy-data."),
    Setting("service_host", "str", "127.0.0.1", "Address proxy-core and proxy-data bind."),
    Setting("log_level", "str", "info", "Log level: debug, info, warning, error, critical."),
    Setting("storage.db_path", "path", "${DATA_DIR}/ccp.db", "SQLite database file."),
    Setting("storage.persist", "bool", True, "Record into the database (false = lite mode)."),
    Setting("storage.busy_timeout", "duration", 2.0, "SQLite busy timeout for writers."),
    Setting("proxy.max_body_size", "int", 64 * 1024 * 1024, "Largest request body, bytes."),
    Setting("proxy.connect_timeout", "duration", 10.0, "Upstream connect timeout."),
    Setting("proxy.idle_timeout", "duration", 600.0, "Upstream read idle timeout (streams)."),
    Setting("proxy.shutdown_grace", "duration", 30.0, "How long in-flight streams may drain."),
    Setting("recorder.queue_size", "int", 10000, "Records held in memory before spooling."),
    Setting("recorder.queue_bytes", "int", 8 * 1024 * 1024, "Body bytes held before spooling."),
    Setting("recorder.flush_interval", "duration", 0.05, "Longest wait before a batch commits."),
    Setting("recorder.batch_size", "int", 200, "Most records written in one transaction."),
    Setting("security.hash_key", "str", "", "Key for credential hashes (default: a file)."),
    Setting("indexer.interval", "duration", 0.2, "How often proxy-data indexes new requests."),
    Setting("indexer.batch_size", "int", 500, "Requests indexed per write transaction."),
    Setting("rollup.interval", "duration", 300.0, "Rollup maintenance tick (retention)."),
    Setting("rollup.retention_days", "int", 30, "Days of hourly rollups kept."),
    Setting("routing.force_haiku_to_zai", "bool", False, "Send haiku models to the zai provider."),
)

PROVIDER_FIELDS: dict[str, tuple[str, Any, str]] = {
    "base_url": ("str", "", "Provider base URL (OpenAI format: as documented, e.g. …/v1)."),
    "api_key": ("str", "", "Provider key; empty = pass the client's credentials through."),
    "format": ("str", "anthropic", "Wire format: anthropic or openai."),
    "header_mode": ("str", "x-api-key", "How the key is sent: x-api-key or bearer."),
}

PRICE_FIELDS: dict[str, tuple[str, Any, str]] = {
    "input": ("float", None, "USD per million input tokens."),
    "output": ("float", None, "USD per million output tokens."),
    "cache_read": ("float", None, "USD per million cache-read tokens."),
    "cache_write_5m": ("float", None, "USD per million 5-minute cache-write tokens."),
    "cache_write_1h": ("float", None, "USD per million 1-hour cache-write tokens."),
}

DEFAULT_PROVIDERS: dict[str, dict[str, Any]] = {
    "anthropic": {"base_url": "https://api.anthropic.com", "format": "anthropic"},
}
ZAI_BASE_URL = "https://api.z.ai/api/anthropic"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

# Legacy environment names → dotted keys.
LEGACY_ENV: dict[str, str] = {
    "DATA_DIR": "data_dir",
    "CCP_PERSIST": "storage.persist",
    "CCP_DB_PATH": "storage.db_path",
    "CCP_ROLLUP_INTERVAL": "rollup.interval",
    "CCP_ROLLUP_RETENTION_DAYS": "rollup.retention_days",
    "FORCE_HAIKU_TO_ZAI": "routing.force_haiku_to_zai",
    "ZAI_HEADER_MODE": "providers.zai.header_mode",
    "ZAI_API_KEY": "providers.zai.api_key",
}

_BY_KEY = {s.key: s for s in SETTINGS}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration(text: str) -> float:
    """``500ms``, ``2s``, ``5m``, ``1h`` or a bare number of seconds → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (write e.g. 500ms, 2s, 5m, 1h)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r} (write true/false or 1/0)")


def _coerce(key: str, kind: str, value: Any) -> Any:
    """Turn a TOML, env or flag value into the setting's kind, naming the key when it can't."""
    try:
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"expected a string, got {value!r}")
            return value
        if kind == "path":
            if not isinstance(value, str | os.PathLike):
                raise ValueError(f"expected a path, got {value!r}")
            return os.fspath(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(f"expected an integer, got {value!r}")
            if isinstance(value, int):
                return value
            if isinstance(value, str):
                return int(value.strip())
            raise ValueError(f"expected an integer, got {value!r}")
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(f"expected a number, got {value!r}")
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):
                return float(value.strip())
            raise ValueError(f"expected a number, got {value!r}")
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str):
                return parse_bool(value)
            raise ValueError(f"expected true or false, got {value!r}")
        if kind == "duration":
            if isinstance(value, bool):
                raise ValueError(f"expected a duration, got {value!r}")
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):
                return parse_duration(value)
            raise ValueError(f"expected a duration, got {value!r}")
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    raise ConfigError(f"{key}: unknown kind {kind}")  # pragma: no cover - table error


def _kind_of(key: str) -> str:
    """The kind of a dotted key, including the open provider and pricing sections."""
    if key in _BY_KEY:
        return _BY_KEY[key].kind
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "providers" and parts[2] in PROVIDER_FIELDS:
        return PROVIDER_FIELDS[parts[2]][0]
    if len(parts) >= 3 and parts[0] == "pricing" and parts[-1] in PRICE_FIELDS:
        return PRICE_FIELDS[parts[-1]][0]
    raise ConfigError(f"{key}: unknown setting (see docs/configuration.md)")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = value
    return flat


def _toml_layer(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (set CCP_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    # Pricing model names contain dots ("claude-3.5-…"): keep them as one key part.
    pricing = table.pop("pricing", {})
    flat = _flatten(table)
    if not isinstance(pricing, Mapping):
        raise ConfigError("pricing: expected a table of models")
    for model, prices in pricing.items():
        if not isinstance(prices, Mapping):
            raise ConfigError(f"pricing.{model}: expected a table of prices")
        for name, value in prices.items():
            flat[f"pricing.{model}.{name}"] = value
    return flat


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in environ.items():
        if name in LEGACY_ENV:
            flat[LEGACY_ENV[name]] = value
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in LEGACY_ENV or name == CONFIG_ENV:
            continue
        key = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        try:
            _kind_of(key)
        except ConfigError:
            raise ConfigError(f"{name}: unknown setting (see docs/configuration.md)") from None
        flat[key] = value
    return flat


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    base_url: str
    api_key: str = ""
    format: str = "anthropic"
    header_mode: str = "x-api-key"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """The resolved configuration: ``values`` holds every dotted key of ``SETTINGS``."""

    values: Mapping[str, Any]
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    pricing: Mapping[str, ModelPrice] = field(default_factory=dict)
    source: str = "defaults"

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def data_dir(self) -> Path:
        return Path(self.values["data_dir"])

    @property
    def db_path(self) -> Path:
        return Path(self.values["storage.db_path"])

    @property
    def persist(self) -> bool:
        return bool(self.values["storage.persist"])

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def records_dir(self) -> Path:
        return self.data_dir / "records"


def _expand(key: str, text: str, variables: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ConfigError(f"{key}: ${{{name}}} is not set")
        return variables[name]

    expanded = _VAR.sub(substitute, text)
    return str(Path(expanded).expanduser().absolute())


def _build_providers(flat: Mapping[str, Any]) -> dict[str, ProviderConfig]:
    raw: dict[str, dict[str, Any]] = {n: dict(v) for n, v in DEFAULT_PROVIDERS.items()}
    for key, value in flat.items():
        if key.startswith("providers."):
            _, name, fld = key.split(".")
            raw.setdefault(name, {})[fld] = value
    if "zai" in raw:
        raw["zai"].setdefault("base_url", ZAI_BASE_URL)
    providers: dict[str, ProviderConfig] = {}
    for name, fields in raw.items():
        if not fields.get("base_url"):
            raise ConfigError(f"providers.{name}.base_url: required")
        fmt = fields.get("format", "anthropic")
        if fmt not in ("anthropic", "openai"):
            raise ConfigError(f"providers.{name}.format: expected anthropic or openai, got {fmt!r}")
        mode = fields.get("header_mode", "x-api-key")
        if mode not in ("x-api-key", "bearer"):
            raise ConfigError(
                f"providers.{name}.header_mode: expected x-api-key or bearer, got {mode!r}"
            )
        base_url = str(fields["base_url"]).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"providers.{name}.base_url: expected an http(s) URL")
        # Surrounding blanks are a pasting accident; a control character inside would make every
        # request fail upstream-side, so it is refused here, without showing the key.
        api_key = str(fields.get("api_key", "")).strip()
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in api_key):
            raise ConfigError(
                f"providers.{name}.api_key: contains a control character (a pasted line break?)"
            )
        providers[name] = ProviderConfig(
            name=name,
            base_url=base_url,
            api_key=api_key,
            format=fmt,
            header_mode=mode,
        )
    return providers


def _check_routing(values: Mapping[str, Any], providers: Mapping[str, ProviderConfig]) -> None:
    """Refuse routing that would hand the client's credentials to a third party.

    A provider without a key gets the client's own credentials passed through: right for
    ``anthropic``, wrong for Z.ai, which would receive an Anthropic API key or OAuth token.
    """
    if not values["routing.force_haiku_to_zai"]:
        return
    zai = providers.get("zai")
    if zai is None:
        raise ConfigError(
            "routing.force_haiku_to_zai: FORCE_HAIKU_TO_ZAI is on but no zai provider is "
            "configured; set ZAI_API_KEY (providers.zai.api_key)"
        )
    if not zai.api_key:
        raise ConfigError(
            "providers.zai.api_key: required when routing.force_haiku_to_zai is on; set "
            "ZAI_API_KEY (without it the client's Anthropic credentials would go to Z.ai)"
        )


def _build_pricing(flat: Mapping[str, Any]) -> dict[str, ModelPrice]:
    fields: dict[str, dict[str, float]] = {}
    for key, value in flat.items():
        if key.startswith("pricing."):
            model, name = key[len("pricing.") :].rsplit(".", 1)
            fields.setdefault(model, {})[name] = value
    return {model: ModelPrice(**prices) for model, prices in fields.items()}


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Config:
    """Resolve the configuration. ``flags`` maps dotted keys to command-line values."""
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path: Path | None = None
    if config_file is not None:
        path = Path(config_file)
    elif environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV])
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        path = Path(DEFAULT_CONFIG_FILE)

    layers: list[dict[str, Any]] = [
        _toml_layer(path) if path else {},
        _env_layer(environ),
        dict(flags),
    ]
    merged: dict[str, Any] = {s.key: s.default for s in SETTINGS}
    for layer in layers:
        for key, value in layer.items():
            merged[key] = _coerce(key, _kind_of(key), value)

    data_dir = _expand("data_dir", merged["data_dir"], environ)
    merged["data_dir"] = data_dir
    merged["storage.db_path"] = _expand(
        "storage.db_path", merged["storage.db_path"], {**environ, "DATA_DIR": data_dir}
    )
    for key in ("port", "core_port", "data_port"):
        if not 0 < merged[key] < 65536:
            raise ConfigError(f"{key}: {merged[key]} is not a TCP port")
    level = str(merged["log_level"])
    if level.lower() not in LOG_LEVELS:
        raise ConfigError(
            f"log_level: unknown level {level!r} (expected one of {', '.join(LOG_LEVELS)})"
        )
    values = {k: merged[k] for k in _BY_KEY}
    providers = _build_providers(merged)
    _check_routing(values, providers)
    return Config(
        values=values,
        providers=providers,
        pricing=_build_pricing(merged),
        source=str(path) if path else "defaults+env",
    )


def require_db_dir(config: Config) -> Path:
    """The database path, or a ConfigError naming the missing directory and the fix."""
    db_path = config.db_path
    if not db_path.parent.is_dir():
        raise ConfigError(
            f"storage.db_path: directory {db_path.parent} does not exist; "
            f"create it (mkdir -p {db_path.parent}) and run `ccp db upgrade`"
        )
    return db_path
