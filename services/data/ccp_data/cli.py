"""``ccp``: operations on the database (``ccp db upgrade|status|check|import|export|
rebuild-rollups``).

Thin: parse arguments, load the configuration, call ``ccp_shared.migrate``, ``dbops`` or
``rollups``, print.
Exit codes: 0 done, 1 the check failed or some input was bad, 2 configuration, schema or database
error (a file that is not an SQLite database, a locked or unwritable one): one line, no traceback.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from ccp_data import dbops, rollups
from ccp_data.pricing import load_price_table
from ccp_shared import migrate
from ccp_shared.config import Config, ConfigError, load_config
from ccp_shared.store import SCHEMA_HEAD, SchemaError, check_schema, connect


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ccp", description="ccp operations.")
    parser.add_argument("--config", help="TOML config file (default ./ccp.toml if present)")
    parser.add_argument("--data-dir", help="DATA_DIR (default ./data)")
    parser.add_argument("--db-path", help="SQLite database file (default $DATA_DIR/ccp.db)")
    commands = parser.add_subparsers(dest="command", required=True)
    db = commands.add_parser(
        "db", help="database: upgrade, status, check, import, export, rebuild-rollups"
    )
    actions = db.add_subparsers(dest="action", required=True)
    actions.add_parser("upgrade", help="create the database or migrate it to the current schema")
    actions.add_parser("status", help="the database's schema revision and the code's")
    actions.add_parser("check", help="exit 1 unless the schema is current and integrity is ok")
    importer = actions.add_parser("import", help="load JSONL records (lite mode, spool)")
    importer.add_argument("--jsonl", nargs="+", required=True, type=Path, metavar="FILE")
    exporter = actions.add_parser("export", help="requests (without bodies) as CSV")
    exporter.add_argument("--csv", action="store_true", required=True, help="CSV format")
    exporter.add_argument("--out", type=Path, help="write to FILE instead of stdout")
    actions.add_parser(
        "rebuild-rollups",
        help="recompute the stats rollups from the requests (after a price change)",
    )
    return parser.parse_args(argv)


def upgrade(config: Config) -> int:
    migrate.upgrade(config.db_path)
    print(f"{config.db_path}: at schema revision {migrate.current_revision(config.db_path)}")
    return 0


def status(config: Config) -> int:
    current = migrate.current_revision(config.db_path)
    state = "up to date" if current == SCHEMA_HEAD else "needs `ccp db upgrade`"
    print(f"database: {config.db_path}")
    print(f"revision: {current or 'none'}")
    print(f"head:     {SCHEMA_HEAD}")
    print(f"status:   {state}")
    return 0


def check(config: Config) -> int:
    try:
        check_schema(config.db_path)
    except SchemaError as exc:
        print(f"ccp: {exc}", file=sys.stderr)
        return 1
    conn = connect(config.db_path, readonly=True)
    try:
        problems = dbops.integrity_problems(conn)
    finally:
        conn.close()
    for problem in problems:
        print(f"integrity: {problem}", file=sys.stderr)
    if not problems:
        print(f"{config.db_path}: schema {SCHEMA_HEAD}, integrity ok")
    return 1 if problems else 0


def import_jsonl(config: Config, paths: list[Path]) -> int:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"ccp: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    check_schema(config.db_path)
    conn = connect(config.db_path, busy_timeout=float(config["storage.busy_timeout"]))
    try:
        report = dbops.import_jsonl(conn, paths)
    finally:
        conn.close()
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(
        f"imported {report.inserted} records ({report.already_present} already present, "
        f"{len(report.problems)} skipped)"
    )
    return 1 if report.problems else 0


def export_csv(config: Config, out: Path | None) -> int:
    check_schema(config.db_path)
    conn = connect(config.db_path, readonly=True)
    try:
        if out is None:
            try:
                dbops.export_csv(conn, sys.stdout)
            except BrokenPipeError:  # `ccp db export --csv | head`: the reader had enough
                sys.stderr.close()
        else:
            with out.open("w", newline="", encoding="utf-8") as handle:
                count = dbops.export_csv(conn, handle)
            print(f"wrote {count} requests to {out}", file=sys.stderr)
    finally:
        conn.close()
    return 0


def rebuild_rollups(config: Config) -> int:
    check_schema(config.db_path)
    conn = connect(config.db_path, busy_timeout=float(config["storage.busy_timeout"]))
    try:
        count = rollups.rebuild(
            conn,
            load_price_table(config.pricing),
            retention_days=int(config["rollup.retention_days"]),
        )
    finally:
        conn.close()
    print(f"rebuilt the rollups with the current prices ({count} requests rolled up)")
    return 0


def dispatch(config: Config, args: argparse.Namespace) -> int:
    """Run the action ``args`` names; its exit code."""
    if args.action == "upgrade":
        return upgrade(config)
    if args.action == "status":
        return status(config)
    if args.action == "check":
        return check(config)
    if args.action == "import":
        return import_jsonl(config, args.jsonl)
    if args.action == "rebuild-rollups":
        return rebuild_rollups(config)
    return export_csv(config, args.out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flags = {"data_dir": args.data_dir, "storage.db_path": args.db_path}
    try:
        config = load_config(flags=flags, config_file=args.config)
    except ConfigError as exc:
        print(f"ccp: {exc}", file=sys.stderr)
        return 2
    try:
        return dispatch(config, args)
    except (ConfigError, SchemaError) as exc:
        print(f"ccp: {exc}", file=sys.stderr)
        return 2
    except (sqlite3.Error, DBAPIError) as exc:
        # Alembic's errors wrap sqlite3's: the original says it without the SQL and a URL.
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        print(f"ccp: database {config.db_path}: {reason}", file=sys.stderr)
        return 2
    except OSError as exc:  # a directory that cannot be created, a file that cannot be written
        print(f"ccp: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
