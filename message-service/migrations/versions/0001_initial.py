"""Rooms, memberships, messages, the user directory and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from chat_runtime.messaging.outbox import outbox_table
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("visibility", sa.Text, nullable=False),
        sa.Column("created_by", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direct_key", sa.Text, nullable=True, unique=True),
        sa.CheckConstraint("kind IN ('channel', 'direct')", name="rooms_kind"),
        sa.CheckConstraint("visibility IN ('public', 'private')", name="rooms_visibility"),
    )
    op.create_index(
        "rooms_public_name",
        "rooms",
        [sa.text("lower(name)")],
        postgresql_where=sa.text("visibility = 'public'"),
    )
    op.create_table(
        "memberships",
        sa.Column("room_id", pg.UUID(as_uuid=True), sa.ForeignKey("rooms.id"), primary_key=True),
        sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_read_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("memberships_user", "memberships", ["user_id"])
    op.create_table(
        "messages",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("room_id", pg.UUID(as_uuid=True), sa.ForeignKey("rooms.id"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("sender_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("client_msg_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("room_id", "seq", name="messages_room_seq"),
        sa.UniqueConstraint("sender_id", "client_msg_id", name="messages_sender_client_msg_id"),
    )
    op.create_table(
        "users",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The outbox's shape belongs to chat_runtime (its relay reads it); create it from there.
    outbox_table(sa.MetaData()).create(op.get_bind())


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("users")
    op.drop_table("messages")
    op.drop_table("memberships")
    op.drop_table("rooms")
