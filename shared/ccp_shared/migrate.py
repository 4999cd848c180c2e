"""Run Alembic programmatically: migrations are found inside this package, never via the cwd."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from ccp_shared.store import connect


def alembic_config(db_path: str | Path) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", _literal(str(Path(__file__).parent / "migrations")))
    cfg.set_main_option("sqlalchemy.url", _literal(f"sqlite:///{db_path}"))
    return cfg


def _literal(value: str) -> str:
    # Alembic keeps options in a ConfigParser, which reads "%" as the start of an interpolation.
    return value.replace("%", "%%")


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config(":memory:")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {heads}")
    return heads[0]


def current_revision(db_path: str | Path) -> str | None:
    if not Path(db_path).exists():
        return None
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(db_path: str | Path, revision: str = "head") -> None:
    """Create the directory if needed, set WAL mode, and upgrade the schema."""
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    connect(path).close()  # creates the file in WAL mode with ccp's pragmas
    command.upgrade(alembic_config(path), revision)
