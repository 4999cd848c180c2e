"""The SQLAlchemy Core description of ccp's tables, used by Alembic and by read-side queries.

proxy-core writes only ``requests`` and ``request_bodies`` (through ``store.py``, plain sqlite3);
everything else is derived by proxy-data. Headers and bodies live in ``request_bodies`` so the hot
``requests`` table stays narrow and fast to scan and index.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

requests = Table(
    "requests",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False, unique=True),
    Column("ts_start", Float, nullable=False),
    Column("method", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("query", Text, nullable=False, server_default=""),
    Column("ts_end", Float),
    Column("session_id", Text),
    Column("agent_id", Text),
    Column("client", Text),
    Column("model_requested", Text),
    Column("model", Text),
    Column("provider", Text),
    Column("route", Text),
    Column("stream", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False),
    Column("http_status", Integer),
    Column("error_type", Text),
    Column("error_message", Text),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("cache_creation_input_tokens", Integer),
    Column("cache_read_input_tokens", Integer),
    Column("cache_creation_5m_tokens", Integer),
    Column("cache_creation_1h_tokens", Integer),
    Column("stop_reason", Text),
    Column("ttft_ms", Float),
    Column("duration_ms", Float),
    Column("request_bytes", Integer, nullable=False, server_default="0"),
    Column("response_bytes", Integer, nullable=False, server_default="0"),
    Column("key_hash", Text),
    Column("upstream_url", Text),
    Column("route_decision", Text),
    Index(None, "ts_start"),
    Index(None, "session_id", "ts_start"),
    Index(None, "model", "ts_start"),
    Index(None, "status", "ts_start"),
    sqlite_autoincrement=True,
)

request_bodies = Table(
    "request_bodies",
    metadata,
    Column("request_id", Text, primary_key=True),
    Column("request_headers", Text),
    Column("response_headers", Text),
    Column("request_body", Text),
    Column("response_body", Text),
)
