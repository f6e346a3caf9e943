"""Timeline entries of api-v1.1 A: change and system entries on `messages`, a text entry's state,
reactions, no-op sends, and the indexes deletes and unread counts use.

Every added column is nullable or has a default, so the rows of before stay valid: a plain text
entry that never changed (state_seq NULL = its own seq, content_hash NULL = the hash of its
text, see domain/entries.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _message_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("target_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("emoji", sa.Text, nullable=True),
        sa.Column("added", sa.Boolean, nullable=True),
        sa.Column("event", sa.Text, nullable=True),
        sa.Column("actor_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("subject_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("state_seq", sa.BigInteger, nullable=True),
        sa.Column("content_hash", sa.LargeBinary, nullable=True),
    ]


def upgrade() -> None:
    for column in _message_columns():
        # A nullable column, or a constant default: no table rewrite on PostgreSQL >= 11.
        op.add_column("messages", column)
    op.create_index(
        "messages_target",
        "messages",
        ["target_id"],
        postgresql_where=sa.text("target_id IS NOT NULL"),
    )
    op.create_index(
        "messages_unread",
        "messages",
        ["room_id", "seq"],
        postgresql_include=["sender_id"],
        postgresql_where=sa.text("kind = 'text' AND NOT deleted"),
    )
    op.create_table(
        "reactions",
        sa.Column("message_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("emoji", sa.Text, primary_key=True),
        sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("emoji_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("reactions_message_seq", "reactions", ["message_id", "seq"])
    op.create_table(
        "noop_sends",
        sa.Column("sender_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("client_msg_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("room_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("target_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "outbox_message_ref",
        "outbox",
        [sa.text("(body #>> '{message,id}')")],
        postgresql_where=sa.text("type_name IN ('message.created.v1', 'message.accepted.v1')"),
    )


def downgrade() -> None:
    op.drop_index("outbox_message_ref", table_name="outbox")
    op.drop_table("noop_sends")
    op.drop_table("reactions")
    op.drop_index("messages_unread", table_name="messages")
    op.drop_index("messages_target", table_name="messages")
    # The entries stay (the release before reads unknown kinds and empty texts: api-v1.1's
    # tolerant release); what only this release understands goes with its columns.
    for column in reversed(_message_columns()):
        op.drop_column("messages", column.name)
