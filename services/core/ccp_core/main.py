"""``proxy-core``: parse flags, check the database, serve the app with hypercorn on uvloop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import cast

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.typing import ASGIFramework

from ccp_core.app import create_app
from ccp_core.hash_key import load_hash_key
from ccp_shared.config import Config, ConfigError, load_config, require_db_dir
from ccp_shared.store import SchemaError, check_schema

# Caddy keeps idle upstream connections for 2 minutes; we must not close them first, or Caddy
# may reuse a connection at the moment we drop it.
KEEP_ALIVE_TIMEOUT = 180.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="proxy-core",
        description="Run proxy-core, the recording Messages API gateway (flags override env).",
    )
    parser.add_argument("--host", help="address to bind (service_host)")
    parser.add_argument("--port", type=int, help="port to bind (core_port, default 3001)")
    parser.add_argument("--data-dir", help="DATA_DIR: database, spool, records")
    parser.add_argument("--db-path", help="SQLite database file")
    parser.add_argument("--lite", action="store_true", help="record to JSONL only, no database")
    parser.add_argument("--config", help="TOML config file (default ./ccp.toml if present)")
    return parser.parse_args(argv)


def hypercorn_config(config: Config) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"{config['service_host']}:{config['core_port']}"]
    hc.keep_alive_timeout = KEEP_ALIVE_TIMEOUT
    hc.graceful_timeout = float(config["proxy.shutdown_grace"])
    hc.accesslog = None
    # Date and Server come from the upstream with the rest of its headers; two of each would be
    # ambiguous to clients.
    hc.include_date_header = False
    hc.include_server_header = False
    # Hypercorn's messages go through our logging set-up (one format, no duplicate lines).
    hc.errorlog = logging.getLogger("hypercorn.error")
    return hc


def log_level(config: Config) -> str:
    """``log_level`` as a logging level name, or ConfigError naming the ones there are."""
    level = str(config["log_level"]).upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(
            f"log_level: unknown level {config['log_level']!r} "
            "(expected debug, info, warning or error)"
        )
    return level


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flags = {
        "service_host": args.host,
        "core_port": args.port,
        "data_dir": args.data_dir,
        "storage.db_path": args.db_path,
        "storage.persist": False if args.lite else None,
    }
    try:
        config = load_config(flags=flags, config_file=args.config)
        if config.persist:
            check_schema(require_db_dir(config))
        level = log_level(config)
        # Read (or create) the key now: a damaged key file is a one-line error here, where in
        # the app's lifespan it would be a traceback.
        load_hash_key(config)
    except (ConfigError, SchemaError) as exc:
        print(f"proxy-core: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = cast(ASGIFramework, create_app(config))
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        asyncio.run(serve(app, hypercorn_config(config)))
    else:
        uvloop.run(serve(app, hypercorn_config(config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
