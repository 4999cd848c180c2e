"""requests and request_bodies: what proxy-core records

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("ts_start", sa.Float(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False, server_default=""),
        sa.Column("ts_end", sa.Float()),
        sa.Column("session_id", sa.Text()),
        sa.Column("agent_id", sa.Text()),
        sa.Column("client", sa.Text()),
        sa.Column("model_requested", sa.Text()),
        sa.Column("model", sa.Text()),
        sa.Column("provider", sa.Text()),
        sa.Column("route", sa.Text()),
        sa.Column("stream", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("error_type", sa.Text()),
        sa.Column("error_message", sa.Text()),
        sa.Column("input_tokens", sa.Integer()),
        sa.Column("output_tokens", sa.Integer()),
        sa.Column("cache_creation_input_tokens", sa.Integer()),
        sa.Column("cache_read_input_tokens", sa.Integer()),
        sa.Column("cache_creation_5m_tokens", sa.Integer()),
        sa.Column("cache_creation_1h_tokens", sa.Integer()),
        sa.Column("stop_reason", sa.Text()),
        sa.Column("ttft_ms", sa.Float()),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("request_bytes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("response_bytes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("key_hash", sa.Text()),
        sa.Column("upstream_url", sa.Text()),
        sa.Column("route_decision", sa.Text()),
        sa.PrimaryKeyConstraint("seq", name="pk_requests"),
        sa.UniqueConstraint("id", name="uq_requests_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_requests_ts_start", "requests", ["ts_start"])
    op.create_index("ix_requests_session_id_ts_start", "requests", ["session_id", "ts_start"])
    op.create_index("ix_requests_model_ts_start", "requests", ["model", "ts_start"])
    op.create_index("ix_requests_status_ts_start", "requests", ["status", "ts_start"])
    op.create_table(
        "request_bodies",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("request_headers", sa.Text()),
        sa.Column("response_headers", sa.Text()),
        sa.Column("request_body", sa.Text()),
        sa.Column("response_body", sa.Text()),
        sa.PrimaryKeyConstraint("request_id", name="pk_request_bodies"),
    )


def downgrade() -> None:
    op.drop_table("request_bodies")
    op.drop_index("ix_requests_status_ts_start", "requests")
    op.drop_index("ix_requests_model_ts_start", "requests")
    op.drop_index("ix_requests_session_id_ts_start", "requests")
    op.drop_index("ix_requests_ts_start", "requests")
    op.drop_table("requests")
