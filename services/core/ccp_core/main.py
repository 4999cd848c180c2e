"""``proxy-core``: parse flags, check the database, serve the app with hypercorn on uvloop."""

from __future__ import annotations

import argparse
import sys

from ccp_core.app import create_app
from ccp_core.hash_key import load_hash_key
from ccp_shared.config import ConfigError, load_config, require_db_dir
from ccp_shared.serve import check_port, log_level_name, serve
from ccp_shared.store import SchemaError, check_schema

# How a port problem names the setting that changes it.
CORE_PORT = "core_port (CCP_CORE_PORT, --port)"


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
            check_schema(require_db_dir(config), writer=True)
        level = log_level_name(config["log_level"])
        # Read (or create) the key now: a damaged key file is a one-line error here, where in
        # the app's lifespan it would be a traceback.
        load_hash_key(config)
        app = create_app(config)
        check_port(str(config["service_host"]), int(config["core_port"]), CORE_PORT)
    except (ConfigError, SchemaError) as exc:
        print(f"proxy-core: {exc}", file=sys.stderr)
        return 2
    serve(
        app,
        host=str(config["service_host"]),
        port=int(config["core_port"]),
        graceful_timeout=float(config["proxy.shutdown_grace"]),
        log_level=level,
        # Date and Server come from the upstream with the rest of its headers.
        server_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
