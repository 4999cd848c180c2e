"""request bodies stored as a difference from a keyframe body (ccp_shared.bodies)

Three nullable columns: existing rows, all stored whole, stay as they are (SQLite adds a column
without rewriting the table).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccp_shared.bodies import UNREBUILDABLE_COUNT_SQL, rebuild

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("request_bodies", sa.Column("request_body_base", sa.Text()))
    op.add_column("request_bodies", sa.Column("request_body_prefix", sa.Integer()))
    op.add_column("request_bodies", sa.Column("request_body_suffix", sa.Integer()))


def downgrade() -> None:
    # Every body stored as a difference is stored whole again before the columns go. One that
    # cannot be rebuilt (its keyframe deleted by hand) stops the downgrade: dropping the columns
    # would leave only its middle, silently.
    conn = op.get_bind()
    (broken,) = conn.execute(sa.text(UNREBUILDABLE_COUNT_SQL)).one()
    if broken:
        raise RuntimeError(
            f"{broken} request bodies are stored as a difference from a body the database no "
            "longer holds whole; they cannot be stored whole again (see `ccp db check`)"
        )
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT b.request_id, CAST(b.request_body AS BLOB), b.request_body_base,"
                " CAST(k.request_body AS BLOB), b.request_body_prefix, b.request_body_suffix"
                " FROM request_bodies AS b"
                " JOIN request_bodies AS k ON k.request_id = b.request_body_base"
                " WHERE b.request_body_base IS NOT NULL LIMIT 500"
            )
        ).all()
        if not rows:
            break
        for request_id, middle, base_id, base, prefix, suffix in rows:
            body = rebuild(middle, base_id, base, prefix, suffix)
            conn.execute(
                sa.text(
                    "UPDATE request_bodies SET request_body = :body, request_body_base = NULL"
                    " WHERE request_id = :id"
                ),
                {
                    "body": None if body is None else body.decode("utf-8", "replace"),
                    "id": request_id,
                },
            )
    op.drop_column("request_bodies", "request_body_suffix")
    op.drop_column("request_bodies", "request_body_prefix")
    op.drop_column("request_bodies", "request_body_base")
