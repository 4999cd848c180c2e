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
    # Migration 0004: request_body may be a difference from the body of request_body_base, a
    # keyframe stored whole; ccp_shared.bodies defines it and rebuilds it.
    Column("request_body_base", Text),
    Column("request_body_prefix", Integer),
    Column("request_body_suffix", Integer),
)

# --- Derived by proxy-data's indexer (migration 0002). Core never writes these. ---

# One row per indexed request: its class and where its messages went. ``seq`` is requests.seq.
request_index = Table(
    "request_index",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("request_id", Text, nullable=False, unique=True),
    Column("class", Text, nullable=False),
    Column("ts_start", Float, nullable=False),
    Column("conversation_id", Integer),
    Column("message_count", Integer, nullable=False, server_default="0"),
    Column("prompt_message_id", Integer),
    Column("response_message_id", Integer),
    Index(None, "class", "ts_start"),
    Index(None, "conversation_id", "ts_start"),
)

# A conversation is one session's thread for one agent ("main" or a subagent id).
conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False, unique=True),
    Column("session_id", Text),
    Column("agent_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("title", Text),
    Column("model", Text),
    Column("first_ts", Float, nullable=False),
    Column("last_ts", Float, nullable=False),
    Column("request_count", Integer, nullable=False, server_default="0"),
    Column("message_count", Integer, nullable=False, server_default="0"),
    Index(None, "last_ts"),
    Index(None, "session_id", "last_ts"),
    Index(None, "kind", "last_ts"),
    Index(None, "model", "last_ts"),
    sqlite_autoincrement=True,
)

# Each message once per conversation, keyed by the hash chained over the history before it.
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", Integer, nullable=False),
    Column("parent_id", Integer),
    Column("position", Integer, nullable=False),
    Column("chain_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("request_id", Text, nullable=False),
    Column("ts", Float, nullable=False),
    Column("model", Text),
    Column("session_id", Text),  # the conversation's, repeated: search narrows by it in FTS
    Index(None, "conversation_id", "chain_hash", unique=True),
    Index(None, "conversation_id"),  # holds the rowid too: a conversation's messages by id
    sqlite_autoincrement=True,
)

# Watermarks of proxy-data's incremental passes (name -> last requests.seq done).
indexer_state = Table(
    "indexer_state",
    metadata,
    Column("name", Text, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# --- Derived by proxy-data's rollups (migration 0003). ---

# Usage per window ("hour"/"day", UTC-aligned unix seconds), model and provider ("" = unknown).
# Every additive figure is an integer (cost in billionths of a USD, generation time in ms) so
# rows built incrementally equal rows recomputed from scratch, bit for bit. Latencies are
# mergeable sketches (JSON, see ccp_data.sketch): windows, days and database files combine into
# exact percentiles of the union.
rollups = Table(
    "rollups",
    metadata,
    Column("granularity", Text, primary_key=True),
    Column("window_start", Integer, primary_key=True, autoincrement=False),
    Column("model", Text, primary_key=True),
    Column("provider", Text, primary_key=True),
    Column("requests", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("client_closed", Integer, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cache_read_tokens", Integer, nullable=False),
    Column("cache_write_tokens", Integer, nullable=False),
    Column("cache_write_1h_tokens", Integer, nullable=False),
    Column("cost_nanos", Integer, nullable=False),
    Column("cost_unknown", Integer, nullable=False),
    Column("gen_output_tokens", Integer, nullable=False),
    Column("gen_ms", Integer, nullable=False),
    Column("ttft_sketch", Text, nullable=False),
    Column("duration_sketch", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    sqlite_with_rowid=False,
)

# The total of every model and provider per window, as the JSON point /api/stats/hourly serves
# (ccp_data.series): a pure function of the rollups rows of that window, stored so a 30-day
# series is 720 stored points instead of thousands of sketches merged per call.
rollup_series = Table(
    "rollup_series",
    metadata,
    Column("granularity", Text, primary_key=True),
    Column("window_start", Integer, primary_key=True, autoincrement=False),
    Column("point", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    sqlite_with_rowid=False,
)
