"""``proxy-data``: parse flags, check the database, serve the app with hypercorn on uvloop."""

from __future__ import annotations

import argparse
import sys

from ccp_data.app import create_app
from ccp_data.indexer import IndexerError, check_fts5
from ccp_shared.config import Config, ConfigError, load_config, require_db_dir
from ccp_shared.serve import check_port, log_level_name, serve
from ccp_shared.store import SchemaError, check_schema, connect

# Long enough for an API read to finish once SIGTERM stops new ones.
GRACEFUL_TIMEOUT = 5.0
# How a port problem names the setting that changes it.
DATA_PORT = "data_port (CCP_DATA_PORT, --port)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="proxy-data",
        description="Run proxy-data: indexer, rollups, search and the JSON APIs (flags override "
        "env).",
    )
    parser.add_argument("--host", help="address to bind (service_host)")
    parser.add_argument("--port", type=int, help="port to bind (data_port, default 3002)")
    parser.add_argument("--data-dir", help="DATA_DIR: database, spool, records")
    parser.add_argument("--db-path", help="SQLite database file")
    parser.add_argument("--config", help="TOML config file (default ./ccp.toml if present)")
    return parser.parse_args(argv)


def preflight(config: Config) -> None:
    """Fail fast: the schema must be at head and SQLite must have FTS5 (else the indexer can't)."""
    db_path = require_db_dir(config)
    check_schema(db_path)
    conn = connect(db_path, readonly=True)
    try:
        check_fts5(conn)
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flags = {
        "service_host": args.host,
        "data_port": args.port,
        "data_dir": args.data_dir,
        "storage.db_path": args.db_path,
    }
    try:
        config = load_config(flags=flags, config_file=args.config)
        preflight(config)
        level = log_level_name(config["log_level"])
        check_port(str(config["service_host"]), int(config["data_port"]), DATA_PORT)
    except (ConfigError, SchemaError, IndexerError) as exc:
        print(f"proxy-data: {exc}", file=sys.stderr)
        return 2
    serve(
        create_app(config),
        host=str(config["service_host"]),
        port=int(config["data_port"]),
        graceful_timeout=GRACEFUL_TIMEOUT,
        log_level=level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
