"""rollups: hourly and daily usage, cost and latency sketches per model and provider, and
the all-model series points

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("granularity", sa.Text(), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("client_closed", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_write_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_write_1h_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_nanos", sa.Integer(), nullable=False),
        sa.Column("cost_unknown", sa.Integer(), nullable=False),
        sa.Column("gen_output_tokens", sa.Integer(), nullable=False),
        sa.Column("gen_ms", sa.Integer(), nullable=False),
        sa.Column("ttft_sketch", sa.Text(), nullable=False),
        sa.Column("duration_sketch", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "granularity", "window_start", "model", "provider", name="pk_rollups"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_series",
        sa.Column("granularity", sa.Text(), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("point", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("granularity", "window_start", name="pk_rollup_series"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("rollup_series")
    op.drop_table("rollups")
