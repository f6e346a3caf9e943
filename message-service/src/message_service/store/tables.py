"""The tables of message-service (the Alembic migrations create exactly these) and the mapping
of their rows to domain values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from chat_runtime.messaging.outbox import outbox_table
from sqlalchemy.dialects import postgresql as pg

from message_service.domain.model import Message, Room

metadata = sa.MetaData()

rooms = sa.Table(
    "rooms",
    metadata,
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
sa.Index(
    "rooms_public_name",
    sa.func.lower(rooms.c.name),
    postgresql_where=rooms.c.visibility == "public",
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("room_id", pg.UUID(as_uuid=True), sa.ForeignKey("rooms.id"), primary_key=True),
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_read_seq", sa.BigInteger, nullable=False, server_default="0"),
)
sa.Index("memberships_user", memberships.c.user_id)

messages = sa.Table(
    "messages",
    metadata,
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

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)

# Send-shard leases (ADR 0008, store/shard_leases.py): a row per shard, a row per live process.
send_shard_leases = sa.Table(
    "send_shard_leases",
    metadata,
    sa.Column("shard", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("owner", sa.Text, nullable=True),
    # The fencing token: one more at every acquisition.
    sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column(
        "expires_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.text("'-infinity'"),
    ),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
)

send_shard_replicas = sa.Table(
    "send_shard_replicas",
    metadata,
    sa.Column("replica", sa.Text, primary_key=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


def room_of(row: Any) -> Room:
    return Room(
        id=row.id,
        kind=row.kind,
        name=row.name,
        visibility=row.visibility,
        created_by=row.created_by,
        created_at=row.created_at,
        last_seq=row.last_seq,
        last_activity_at=row.last_activity_at,
        direct_key=row.direct_key,
    )


def message_of(row: Any) -> Message:
    return Message(
        id=row.id,
        room_id=row.room_id,
        seq=row.seq,
        kind=row.kind,
        sender_id=row.sender_id,
        text=row.text,
        client_msg_id=row.client_msg_id,
        created_at=row.created_at,
    )


def uuid_array(name: str, values: Sequence[UUID]) -> Any:
    """A bound `uuid[]` parameter for `= ANY(...)` / `unnest(...)`.

    `= ANY(array)` instead of `IN (...)`: one SQL text whatever the count, so asyncpg's prepared
    statement is reused instead of prepared again for every batch size."""
    return sa.bindparam(name, list(values), type_=pg.ARRAY(pg.UUID(as_uuid=True)))
