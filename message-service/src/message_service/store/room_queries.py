"""Rooms: insert one, look one up, and the rooms as one user sees them (api-v1 `room`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.model import Room, RoomView
from message_service.domain.notify import effective_notify
from message_service.store.blocks import sender_not_blocked
from message_service.store.tables import (
    memberships,
    mentions,
    messages,
    room_of,
    rooms,
    thread_reads,
    uuid_array,
)

# api-v1.1 B: `unread_count` stops counting here (a badge shows "999+"), so the count reads at
# most this many index entries per room. `mention_count` has the same cap.
UNREAD_CAP = 1000
MENTION_CAP = 1000


def _values(room: Room) -> dict[str, Any]:
    return {
        "id": room.id,
        "kind": room.kind,
        "name": room.name,
        "visibility": room.visibility,
        "created_by": room.created_by,
        "created_at": room.created_at,
        "last_seq": room.last_seq,
        "last_activity_at": room.last_activity_at,
        "direct_key": room.direct_key,
        "topic": room.topic,
        "archived": room.archived,
    }


async def insert_room(session: AsyncSession, room: Room) -> None:
    await session.execute(sa.insert(rooms).values(**_values(room)))


async def insert_direct_room(session: AsyncSession, room: Room) -> bool:
    """Insert a direct room unless one with the same key exists; True when this call created it."""
    stmt = (
        pg.insert(rooms)
        .values(**{**_values(room), "last_seq": 0})
        .on_conflict_do_nothing(index_elements=[rooms.c.direct_key])
        .returning(rooms.c.id)
    )
    return (await session.execute(stmt)).first() is not None


async def get_room(
    session: AsyncSession, room_id: UUID, *, for_update: bool = False
) -> Room | None:
    stmt = sa.select(rooms).where(rooms.c.id == room_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return room_of(row) if row else None


async def get_direct_room(session: AsyncSession, key: str) -> Room | None:
    row = (await session.execute(sa.select(rooms).where(rooms.c.direct_key == key))).first()
    return room_of(row) if row else None


def _member_count() -> Any:
    # An alias: the outer query may join memberships itself (the caller's own row).
    others = memberships.alias("others")
    return (
        sa.select(sa.func.count())
        .select_from(others)
        .where(others.c.room_id == rooms.c.id)
        .correlate(rooms)
        .scalar_subquery()
    )


def _unread_count(user_id: UUID, read_seq: Any) -> Any:
    """api-v1.1 B: other people's top-level `text` entries (not thread replies) that are not
    deleted above the read position,
    capped at UNREAD_CAP. The conditions are those of the partial index `messages_unread`
    (room_id, seq) INCLUDE (sender_id), with the literals inline so that a prepared (generic)
    plan still uses it: an index-only range scan of at most UNREAD_CAP entries per room."""
    unread = (
        sa.select(sa.literal(1).label("one"))
        .select_from(messages)
        .where(
            messages.c.room_id == rooms.c.id,
            messages.c.seq > read_seq,
            messages.c.kind == sa.literal_column("'text'"),
            sa.not_(messages.c.deleted),
            messages.c.thread_root_id.is_(None),
            messages.c.sender_id != user_id,
        )
        .limit(UNREAD_CAP)
        .correlate_except(messages)
        .subquery("unread")
    )
    return sa.select(sa.func.count()).select_from(unread).scalar_subquery()


def _mention_count(user_id: UUID, read_seq: Any) -> Any:
    """api-v1.1 B `mention_count`: the entries that mention the user (by name: rows of
    `mentions`, which hold neither the sender nor deleted entries; `@room`: `text` entries
    flagged `mention_room` by others, not deleted), above the room's read position for top-level
    entries and above the user's read position in the thread for replies, capped at
    MENTION_CAP. Four index scans whose ids a UNION counts once (an entry may name the user and
    `@room`): top-level ones are range scans from the read position; replies are few (mentions
    of one user, `@room` replies of one room) and each is compared with its thread's position."""

    def thread_read(root: Any) -> Any:
        # A primary-key lookup per reply (replies that mention the user are few): the planner
        # never reads all of the user's thread positions for each room.
        position = (
            sa.select(thread_reads.c.last_read_seq)
            .where(thread_reads.c.user_id == user_id, thread_reads.c.thread_root_id == root)
            .correlate_except(thread_reads)  # `user_id` may be the outer memberships column
            .scalar_subquery()
        )
        return sa.func.coalesce(position, 0)

    m = mentions
    by_name_top = sa.select(m.c.message_id.label("id")).where(
        m.c.user_id == user_id,
        m.c.room_id == rooms.c.id,
        m.c.seq > read_seq,
        m.c.thread_root_id.is_(None),
    )
    by_name_replies = sa.select(m.c.message_id.label("id")).where(
        m.c.user_id == user_id,
        m.c.room_id == rooms.c.id,
        m.c.thread_root_id.isnot(None),
        m.c.seq > thread_read(m.c.thread_root_id),
    )
    # The conditions of the partial index `messages_room_mentions`, inline (as in unread);
    # `edit` entries carry the mentions they give their target: only `text` entries count.
    room_wide = sa.and_(
        messages.c.room_id == rooms.c.id,
        messages.c.mention_room,
        sa.not_(messages.c.deleted),
        messages.c.kind == sa.literal_column("'text'"),
        messages.c.sender_id != user_id,
    )
    by_room_top = sa.select(messages.c.id.label("id")).where(
        room_wide, messages.c.seq > read_seq, messages.c.thread_root_id.is_(None)
    )
    by_room_replies = sa.select(messages.c.id.label("id")).where(
        room_wide,
        messages.c.thread_root_id.isnot(None),
        messages.c.seq > thread_read(messages.c.thread_root_id),
    )
    parts = [
        q.correlate_except(m, messages)
        for q in (by_name_top, by_name_replies, by_room_top, by_room_replies)
    ]
    found = sa.union(*parts).subquery("mentioned")
    # api-v1.1 B: not from a sender the user blocks (store/blocks.py: no extra read without).
    capped = (
        sa.select(found.c.id)
        .where(sender_not_blocked(user_id, found.c.id))
        .limit(MENTION_CAP)
        .subquery("capped")
    )
    return sa.select(sa.func.count()).select_from(capped).scalar_subquery()


def _view(row: Any) -> RoomView:
    return RoomView(
        room_of(row),
        row.member_count,
        row.read_seq or 0,
        unread_count=row.unread_count,
        mention_count=row.mention_count or 0,
        notify=effective_notify(row.kind, row.notify_level),
        # Channels: the caller's room role; a public channel's card for a non-member: member.
        my_role=None if row.kind == "direct" else (row.my_role or "member"),
    )


def _as_seen_by(user_id: UUID) -> Any:
    """Rooms with the user's membership, if any (a public room's card for others: read
    position 0, no mentions, the default notify level)."""
    read_seq = sa.func.coalesce(memberships.c.last_read_seq, 0)
    mention_count = sa.case(
        (memberships.c.user_id.is_(None), 0), else_=_mention_count(user_id, read_seq)
    )
    return sa.select(
        rooms,
        _member_count().label("member_count"),
        read_seq.label("read_seq"),
        _unread_count(user_id, read_seq).label("unread_count"),
        mention_count.label("mention_count"),
        memberships.c.notify.label("notify_level"),
        memberships.c.role.label("my_role"),
    ).select_from(
        rooms.outerjoin(
            memberships,
            sa.and_(memberships.c.room_id == rooms.c.id, memberships.c.user_id == user_id),
        )
    )


async def room_view(session: AsyncSession, room_id: UUID, user_id: UUID) -> RoomView | None:
    stmt = _as_seen_by(user_id).where(rooms.c.id == room_id)
    row = (await session.execute(stmt)).first()
    return _view(row) if row is not None else None


async def rooms_of_user(session: AsyncSession, user_id: UUID) -> list[RoomView]:
    """The user's rooms, the most recent activity (a top-level `text` entry) first."""
    stmt = _of_members(user_id).order_by(rooms.c.last_activity_at.desc(), rooms.c.id)
    return [_view(r) for r in await session.execute(stmt)]


async def member_views(
    session: AsyncSession, room_id: UUID, user_ids: Sequence[UUID] | None = None
) -> dict[UUID, RoomView]:
    """The room as each of its members (or of these members) sees it: what each one's
    `GET /v1/rooms` lists (the bodies of `room.updated.v1`), in one statement."""
    stmt = _of_members(memberships.c.user_id).where(rooms.c.id == room_id)
    if user_ids is not None:
        stmt = stmt.where(memberships.c.user_id == sa.any_(uuid_array("users", sorted(user_ids))))
    return {r.member_id: _view(r) for r in await session.execute(stmt)}


def _of_members(user: Any) -> Any:
    """Rooms joined with memberships of `user` (a user id, or the memberships column itself
    for every member of a room), as those members see them."""
    read_seq = memberships.c.last_read_seq
    stmt = (
        sa.select(
            rooms,
            _member_count().label("member_count"),
            read_seq.label("read_seq"),
            _unread_count(user, read_seq).label("unread_count"),
            _mention_count(user, read_seq).label("mention_count"),
            memberships.c.notify.label("notify_level"),
            memberships.c.role.label("my_role"),
            memberships.c.user_id.label("member_id"),
        )
        .select_from(rooms)
        .join(memberships, memberships.c.room_id == rooms.c.id)
    )
    return stmt.where(memberships.c.user_id == user) if isinstance(user, UUID) else stmt


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def public_rooms(
    session: AsyncSession, user_id: UUID, prefix: str, limit: int
) -> list[RoomView]:
    stmt = _as_seen_by(user_id).where(rooms.c.visibility == "public", rooms.c.kind == "channel")
    if prefix:
        stmt = stmt.where(
            sa.func.lower(rooms.c.name).like(_escape_like(prefix.lower()) + "%", escape="\\")
        )
    stmt = stmt.order_by(sa.func.lower(rooms.c.name), rooms.c.id).limit(limit)
    return [_view(r) for r in await session.execute(stmt)]


async def update_room(session: AsyncSession, room_id: UUID, values: dict[str, Any]) -> None:
    """Change a room's name, topic or archive state (api-v1.1 C)."""
    await session.execute(sa.update(rooms).where(rooms.c.id == room_id).values(**values))
