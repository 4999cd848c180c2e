"""indexer tables: request classes, conversations, messages, FTS5 search, watermarks

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The FTS5 table indexes messages.text without a copy of it (external content); triggers keep
# it in step with every insert, delete and update of messages. env.py keeps *_fts tables out of
# autogenerate, so they are created here by hand.
# The session id is indexed beside the text so a search within one session is an intersection
# of posting lists inside FTS5 rather than a filter applied to every hit of a common word.
_FTS = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, session_id, content='messages', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, text, session_id) VALUES (new.id, new.text, new.session_id); "
    "END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text, session_id) "
    "VALUES ('delete', old.id, old.text, old.session_id); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, session_id ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text, session_id) "
    "VALUES ('delete', old.id, old.text, old.session_id); "
    "INSERT INTO messages_fts(rowid, text, session_id) VALUES (new.id, new.text, new.session_id); "
    "END",
]


def upgrade() -> None:
    op.create_table(
        "request_index",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("class", sa.Text(), nullable=False),
        sa.Column("ts_start", sa.Float(), nullable=False),
        sa.Column("conversation_id", sa.Integer()),
        sa.Column("message_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("prompt_message_id", sa.Integer()),
        sa.Column("response_message_id", sa.Integer()),
        sa.PrimaryKeyConstraint("seq", name="pk_request_index"),
        sa.UniqueConstraint("request_id", name="uq_request_index_request_id"),
    )
    op.create_index("ix_request_index_class_ts_start", "request_index", ["class", "ts_start"])
    op.create_index(
        "ix_request_index_conversation_id_ts_start",
        "request_index",
        ["conversation_id", "ts_start"],
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("session_id", sa.Text()),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("model", sa.Text()),
        sa.Column("first_ts", sa.Float(), nullable=False),
        sa.Column("last_ts", sa.Float(), nullable=False),
        sa.Column("request_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("message_count", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        sa.UniqueConstraint("key", name="uq_conversations_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_conversations_last_ts", "conversations", ["last_ts"])
    op.create_index(
        "ix_conversations_session_id_last_ts", "conversations", ["session_id", "last_ts"]
    )
    op.create_index("ix_conversations_kind_last_ts", "conversations", ["kind", "last_ts"])
    op.create_index("ix_conversations_model_last_ts", "conversations", ["model", "last_ts"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer()),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("chain_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("model", sa.Text()),
        sa.Column("session_id", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_messages_conversation_id_chain_hash",
        "messages",
        ["conversation_id", "chain_hash"],
        unique=True,
    )
    # Not redundant with the unique index above, though it is its prefix: that one orders a
    # conversation's messages by chain hash, this one (ending in the rowid) by id, so a page of a
    # conversation's messages (id > cursor ORDER BY id) is a range walk instead of a sort of all.
    op.create_index("ix_messages_conversation_id", "messages", ["conversation_id"])
    op.create_table(
        "indexer_state",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_indexer_state"),
    )
    for statement in _FTS:
        op.execute(statement)


def downgrade() -> None:
    for trigger in ("messages_fts_update", "messages_fts_delete", "messages_fts_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS messages_fts")
    op.drop_table("indexer_state")
    op.drop_index("ix_messages_conversation_id", "messages")
    op.drop_index("ix_messages_conversation_id_chain_hash", "messages")
    op.drop_table("messages")
    op.drop_index("ix_conversations_model_last_ts", "conversations")
    op.drop_index("ix_conversations_kind_last_ts", "conversations")
    op.drop_index("ix_conversations_session_id_last_ts", "conversations")
    op.drop_index("ix_conversations_last_ts", "conversations")
    op.drop_table("conversations")
    op.drop_index("ix_request_index_conversation_id_ts_start", "request_index")
    op.drop_index("ix_request_index_class_ts_start", "request_index")
    op.drop_table("request_index")
