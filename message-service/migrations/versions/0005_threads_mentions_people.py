"""Threads, mentions and notify levels (api-v1.1 A, B) and the people projection (api-v1.1 C).

- `messages`: a reply's `thread_root_id`; a text entry's parsed mentions (`mention_user_ids`,
  `mention_room`, NULL = none); a root's reply summary (`reply_count`, `last_reply_at`,
  `participant_ids`: the first 50 repliers), kept by the send path in the reply's transaction.
- `mentions`: one row per (entry, mentioned user) for `mention_count`; `@room` stays on the entry.
- `thread_reads`: a user's read position in a thread.
- `memberships.notify`: the member's level (NULL = the default of the room's kind).
- `users`: role, deactivation, deletion and the highest `auth.user.updated.v1` version seen.
- `messages_unread` now leaves replies out (unread counts top-level entries only).

Every added column is nullable or has a constant default: no table rewrite.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UUIDS = pg.ARRAY(pg.UUID(as_uuid=True))


def _message_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("thread_root_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("mention_user_ids", UUIDS, nullable=True),
        sa.Column("mention_room", sa.Boolean, nullable=True),
        sa.Column("reply_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("participant_ids", UUIDS, nullable=True),
    ]


def _user_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("role", sa.Text, nullable=True),
        sa.Column("deactivated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    ]


def upgrade() -> None:
    for column in _message_columns():
        op.add_column("messages", column)
    op.create_index(
        "messages_thread",
        "messages",
        ["thread_root_id", "seq"],
        postgresql_where=sa.text("thread_root_id IS NOT NULL"),
    )
    op.drop_index("messages_unread", table_name="messages")
    op.create_index(
        "messages_unread",
        "messages",
        ["room_id", "seq"],
        postgresql_include=["sender_id"],
        postgresql_where=sa.text("kind = 'text' AND NOT deleted AND thread_root_id IS NULL"),
    )
    op.create_table(
        "mentions",
        sa.Column("message_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("room_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("thread_root_id", pg.UUID(as_uuid=True), nullable=True),
    )
    op.create_index(
        "mentions_user_room_seq",
        "mentions",
        ["user_id", "room_id", "seq"],
        postgresql_include=["thread_root_id"],  # mention_count: index-only scans
    )
    op.create_index(
        "messages_room_mentions",
        "messages",
        ["room_id", "seq"],
        postgresql_where=sa.text("mention_room AND NOT deleted"),
    )
    op.create_table(
        "thread_reads",
        sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("thread_root_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("room_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("last_read_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("thread_reads_user_room", "thread_reads", ["user_id", "room_id"])
    op.add_column("memberships", sa.Column("notify", sa.Text, nullable=True))
    op.create_check_constraint(
        "memberships_notify", "memberships", "notify IN ('all', 'mentions', 'none')"
    )
    for column in _user_columns():
        op.add_column("users", column)
    # Mentions resolve `@name` to ids (usernames are stored lower-case).
    op.create_index("users_username", "users", ["username"])


def downgrade() -> None:
    op.drop_index("users_username", table_name="users")
    for column in reversed(_user_columns()):
        op.drop_column("users", column.name)
    op.drop_constraint("memberships_notify", "memberships", type_="check")
    op.drop_column("memberships", "notify")
    op.drop_index("thread_reads_user_room", table_name="thread_reads")
    op.drop_table("thread_reads")
    op.drop_index("messages_room_mentions", table_name="messages")
    op.drop_index("mentions_user_room_seq", table_name="mentions")
    op.drop_table("mentions")
    op.drop_index("messages_unread", table_name="messages")
    op.create_index(
        "messages_unread",
        "messages",
        ["room_id", "seq"],
        postgresql_include=["sender_id"],
        postgresql_where=sa.text("kind = 'text' AND NOT deleted"),
    )
    op.drop_index("messages_thread", table_name="messages")
    # Replies stay as entries (the release before shows them in the room, a tolerant reader
    # ignores `thread_root_id`); what only this release understands goes with its columns.
    for column in reversed(_message_columns()):
        op.drop_column("messages", column.name)
