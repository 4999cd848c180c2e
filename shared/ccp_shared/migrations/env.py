"""Alembic environment for ccp: SQLite, batch mode, FTS5 tables kept out of autogenerate."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from ccp_shared.schema import metadata

config = context.config


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # FTS5 virtual tables and their shadow tables (x_data, x_idx, …) are managed by hand.
    if type_ == "table" and name is not None and "_fts" in name:
        return False
    return True


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
