"""The tables of message-service (the Alembic migrations create exactly these) and the mapping
of their rows to domain values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from chat_runtime.messaging.outbox import outbox_table
from sqlalchemy.dialects import postgresql as pg

from message_service.domain.model import FileInfo, Mentions, Message, Room

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
    # The sorted member ids of a direct room joined by ":" (two for 1:1, up to nine for a group).
    sa.Column("direct_key", sa.Text, nullable=True, unique=True),
    # api-v1.1 C (migration 0006): a channel's topic; an archived room is read-only.
    sa.Column("topic", sa.Text, nullable=True),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
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
    # api-v1.1 B (migration 0005): all | mentions | none; NULL = the default of the room's kind.
    sa.Column("notify", sa.Text, nullable=True),
    # api-v1.1 C (migration 0006): room admins of channels (direct rooms: always `member`).
    sa.Column("role", sa.Text, nullable=False, server_default="member"),
    sa.CheckConstraint("notify IN ('all', 'mentions', 'none')", name="memberships_notify"),
    sa.CheckConstraint("role IN ('admin', 'member')", name="memberships_role"),
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
    # api-v1.1 A (migration 0003). Change entries: the text entry they change, a reaction's
    # emoji and whether it was added. System entries: event, actor, subject, value.
    sa.Column("target_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("emoji", sa.Text, nullable=True),
    sa.Column("added", sa.Boolean, nullable=True),
    sa.Column("event", sa.Text, nullable=True),
    sa.Column("actor_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("subject_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("value", sa.Text, nullable=True),
    # A text entry's current state: set by its edit, delete and reaction entries.
    sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("state_seq", sa.BigInteger, nullable=True),  # NULL: never changed (its own seq)
    # What idempotency compares (domain/entries.py); NULL on rows from before 0003.
    sa.Column("content_hash", sa.LargeBinary, nullable=True),
    # Threads and mentions (migration 0005, api-v1.1 A): a reply's root; a text entry's parsed
    # mentions (NULL: none); a root's summary, kept by the send path with each reply.
    sa.Column("thread_root_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("mention_user_ids", pg.ARRAY(pg.UUID(as_uuid=True)), nullable=True),
    sa.Column("mention_room", sa.Boolean, nullable=True),
    sa.Column("reply_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_reply_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("participant_ids", pg.ARRAY(pg.UUID(as_uuid=True)), nullable=True),
    sa.UniqueConstraint("room_id", "seq", name="messages_room_seq"),
    sa.UniqueConstraint("sender_id", "client_msg_id", name="messages_sender_client_msg_id"),
)
sa.Index(
    "messages_target",
    messages.c.target_id,
    postgresql_where=messages.c.target_id.isnot(None),
)
# api-v1.1 B: other people's top-level, not deleted text entries above a read position.
sa.Index(
    "messages_unread",
    messages.c.room_id,
    messages.c.seq,
    postgresql_include=["sender_id"],
    postgresql_where=sa.text("kind = 'text' AND NOT deleted AND thread_root_id IS NULL"),
)
sa.Index(
    "messages_thread",
    messages.c.thread_root_id,
    messages.c.seq,
    postgresql_where=messages.c.thread_root_id.isnot(None),
)
# `@room` entries, for mention counts (mentions by name are rows of `mentions`).
sa.Index(
    "messages_room_mentions",
    messages.c.room_id,
    messages.c.seq,
    postgresql_where=sa.text("mention_room AND NOT deleted"),
)

# Search (migration 0004, ADR 0010): text entries that are not deleted, by room and words, and
# newest first.
sa.Index(
    "messages_search",
    messages.c.room_id,
    sa.text("to_tsvector('chat_english'::regconfig, replace(text, '<', ' '))"),
    postgresql_using="gin",
    postgresql_where=sa.text("kind = 'text' AND NOT deleted"),
)
sa.Index(
    "messages_search_recent",
    messages.c.created_at.desc(),
    messages.c.id.desc(),
    postgresql_where=sa.text("kind = 'text' AND NOT deleted"),
)

# A text entry's reactions: one row per (emoji, user); `seq` is the adding entry's seq,
# `emoji_seq` the seq at which the emoji appeared on the message (the order emoji are shown in).
reactions = sa.Table(
    "reactions",
    metadata,
    sa.Column("message_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("emoji", sa.Text, primary_key=True),
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("emoji_seq", sa.BigInteger, nullable=False),
)
sa.Index("reactions_message_seq", reactions.c.message_id, reactions.c.seq)

# Reactions that changed nothing (api-v1.1 A): no entry, but their client_msg_id is taken.
noop_sends = sa.Table(
    "noop_sends",
    metadata,
    sa.Column("sender_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("client_msg_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("room_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("target_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("content_hash", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # The projection of auth.user.updated.v1 (migration 0005, api-v1.1 C): kept at the highest
    # `version` seen (0: only known from auth.user.registered.v1).
    sa.Column("role", sa.Text, nullable=True),
    sa.Column("deactivated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
)

sa.Index("users_username", users.c.username)  # mentions resolve `@name` (stored lower-case)

# Who each text entry mentions by name (api-v1.1 B mention_count); `@room` is on the entry.
mentions = sa.Table(
    "mentions",
    metadata,
    sa.Column("message_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("room_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("thread_root_id", pg.UUID(as_uuid=True), nullable=True),
)
sa.Index(
    "mentions_user_room_seq",
    mentions.c.user_id,
    mentions.c.room_id,
    mentions.c.seq,
    postgresql_include=["thread_root_id"],  # mention_count reads it without the heap
)

# A user's read position in a thread (api-v1.1 B: `read` with `thread_root_id`).
thread_reads = sa.Table(
    "thread_reads",
    metadata,
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("thread_root_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("room_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("last_read_seq", sa.BigInteger, nullable=False),
)
sa.Index("thread_reads_user_room", thread_reads.c.user_id, thread_reads.c.room_id)

# The projection of auth.block.changed.v1 (migration 0006, api-v1.1 C): kept at the highest
# `version` per pair; `blocked` false after an unblock.
blocks = sa.Table(
    "blocks",
    metadata,
    sa.Column("blocker_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("blocked_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("blocked", sa.Boolean, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)

# The projection of file.uploaded.v1 (migration 0007, api-v1.1 E): files never change, so a
# row is written once (redeliveries change nothing).
files = sa.Table(
    "files",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("uploader_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("width", sa.Integer, nullable=True),
    sa.Column("height", sa.Integer, nullable=True),
    sa.Column("has_thumbnail", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# The files of a text entry, in their order (api-v1.1 E); a delete removes its entry's rows.
message_attachments = sa.Table(
    "message_attachments",
    metadata,
    sa.Column("message_id", pg.UUID(as_uuid=True), sa.ForeignKey("messages.id"), primary_key=True),
    sa.Column("position", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("file_id", pg.UUID(as_uuid=True), sa.ForeignKey("files.id"), nullable=False),
)
sa.Index("message_attachments_file", message_attachments.c.file_id)

outbox = outbox_table(metadata)
# A delete erases the text of its target and the target's edits from outbox rows too, found by
# the id of the message they carry (api-v1.1 A; store/message_writes.py).
OUTBOX_MESSAGE_REF = "(body #>> '{message,id}')"
OUTBOX_MESSAGE_TYPES = "type_name IN ('message.created.v1', 'message.accepted.v1')"
sa.Index(
    "outbox_message_ref",
    sa.text(OUTBOX_MESSAGE_REF),
    _table=outbox,
    postgresql_where=sa.text(OUTBOX_MESSAGE_TYPES),
)

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
        topic=row.topic,
        archived=row.archived,
    )


def message_of(row: Any) -> Message:
    """A `messages` row (every column) as a Message; its reactions are not read here."""
    return Message(
        id=row.id,
        room_id=row.room_id,
        seq=row.seq,
        kind=row.kind,
        sender_id=row.sender_id,
        text=row.text,
        client_msg_id=row.client_msg_id,
        created_at=row.created_at,
        target_id=row.target_id,
        emoji=row.emoji,
        added=row.added,
        event=row.event,
        actor_id=row.actor_id,
        subject_id=row.subject_id,
        value=row.value,
        edited_at=row.edited_at,
        deleted=row.deleted,
        state_seq=row.state_seq,
        content_hash=row.content_hash,
        thread_root_id=row.thread_root_id,
        mentions=mentions_of(row.mention_user_ids, row.mention_room),
        reply_count=row.reply_count,
        last_reply_at=row.last_reply_at,
        participant_ids=tuple(row.participant_ids or ()),
    )


def file_of(row: Any) -> FileInfo:
    """A `files` row as a FileInfo."""
    return FileInfo(
        id=row.id,
        uploader_id=row.uploader_id,
        purpose=row.purpose,
        name=row.name,
        size=row.size,
        content_type=row.content_type,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        has_thumbnail=row.has_thumbnail,
        created_at=row.created_at,
    )


def mentions_of(user_ids: Sequence[UUID] | None, room: bool | None) -> Mentions | None:
    """The `mention_user_ids`/`mention_room` columns as Mentions (both NULL: never parsed)."""
    if user_ids is None and room is None:
        return None
    return Mentions(tuple(user_ids or ()), bool(room))


def uuid_array(name: str, values: Sequence[UUID]) -> Any:
    """A bound `uuid[]` parameter for `= ANY(...)` / `unnest(...)`.

    `= ANY(array)` instead of `IN (...)`: one SQL text whatever the count, so asyncpg's prepared
    statement is reused instead of prepared again for every batch size."""
    return sa.bindparam(name, list(values), type_=pg.ARRAY(pg.UUID(as_uuid=True)))
