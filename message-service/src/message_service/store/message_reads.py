"""History pages of a room, the reactions and attachments of a page's text entries, the edits
of one entry, a thread's replies and the caller's unread replies per thread root."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.entries import REACTORS_SHOWN
from message_service.domain.model import Message, Reaction
from message_service.store.files import attachments_of
from message_service.store.tables import (
    message_of,
    messages,
    reactions,
    thread_reads,
    uuid_array,
)

# An inline literal, not a bound parameter: only then can the planner of a generic (prepared)
# plan use the partial indexes that are restricted to `text` entries.
TEXT_KIND: sa.ColumnElement[str] = sa.literal_column("'text'")
EDIT_KIND: sa.ColumnElement[str] = sa.literal_column("'edit'")


def _entries(room_id: UUID, *, content_only: bool, upto: int | None) -> Any:
    stmt = sa.select(messages).where(messages.c.room_id == room_id)
    if content_only:
        # Top-level `text` entries: thread replies show in their thread, not in the room.
        stmt = stmt.where(messages.c.kind == TEXT_KIND, messages.c.thread_root_id.is_(None))
    if upto is not None:
        stmt = stmt.where(messages.c.seq <= upto)
    return stmt


async def _fetch(session: AsyncSession, stmt: Any, limit: int) -> tuple[list[Message], bool]:
    """Up to `limit` rows of `stmt` and whether there are more (one row more is read)."""
    rows = [message_of(r) for r in await session.execute(stmt.limit(limit + 1))]
    return rows[:limit], len(rows) > limit


async def page_before(
    session: AsyncSession,
    room_id: UUID,
    *,
    before: int | None,
    limit: int,
    content_only: bool = False,
    upto: int | None = None,
) -> tuple[list[Message], bool]:
    """The newest `limit` entries below `before` (None: the newest of all) and at most `upto`,
    in ascending order, and whether older ones exist."""
    stmt = _entries(room_id, content_only=content_only, upto=upto)
    if before is not None:
        stmt = stmt.where(messages.c.seq < before)
    rows, more = await _fetch(session, stmt.order_by(messages.c.seq.desc()), limit)
    rows.reverse()
    return rows, more


async def page_from(
    session: AsyncSession,
    room_id: UUID,
    *,
    start: int,
    limit: int,
    content_only: bool = False,
    upto: int | None = None,
) -> tuple[list[Message], bool]:
    """The first `limit` entries from `start` up (and at most `upto`), ascending, and whether
    newer ones exist."""
    stmt = _entries(room_id, content_only=content_only, upto=upto)
    stmt = stmt.where(messages.c.seq >= start).order_by(messages.c.seq)
    return await _fetch(session, stmt, limit)


def _changed(message: Message) -> bool:
    # Every reaction sets its target's state_seq (as do edits and deletes): an entry whose
    # state is still its own seq has never had a reaction.
    return message.state_seq is not None and message.state_seq != message.seq


async def with_reactions(
    session: AsyncSession, page: Sequence[Message], viewer: UUID
) -> tuple[list[Message], dict[UUID, frozenset[str]]]:
    """The page with the reactions of its text entries, and per entry the emoji `viewer` reacted
    with (REST's `me`). One query, and none when no text entry of the page ever changed.

    Emoji come in the order they appeared (`emoji_seq`, ADR 0009); `user_ids` are the first
    reactors."""
    ids = [m.id for m in page if m.kind == "text" and _changed(m)]
    if not ids:
        return list(page), {}
    r = reactions
    first_reactors = sa.func.array_agg(pg.aggregate_order_by(r.c.user_id, r.c.seq, r.c.user_id))
    stmt = (
        sa.select(
            r.c.message_id,
            r.c.emoji,
            sa.func.count().label("n"),
            sa.type_coerce(first_reactors, pg.ARRAY(pg.UUID(as_uuid=True)))[1:REACTORS_SHOWN].label(
                "user_ids"
            ),
            sa.func.bool_or(r.c.user_id == viewer).label("me"),
        )
        .where(r.c.message_id == sa.any_(uuid_array("message_ids", ids)))
        .group_by(r.c.message_id, r.c.emoji)
        .order_by(r.c.message_id, sa.func.min(r.c.emoji_seq), r.c.emoji)
    )
    found: dict[UUID, list[Reaction]] = {}
    mine: dict[UUID, set[str]] = {}
    for row in await session.execute(stmt):
        found.setdefault(row.message_id, []).append(
            Reaction(emoji=row.emoji, count=row.n, user_ids=tuple(row.user_ids))
        )
        if row.me:
            mine.setdefault(row.message_id, set()).add(row.emoji)
    asked = set(ids)
    return (
        [
            dataclasses.replace(m, reactions=tuple(found.get(m.id, ()))) if m.id in asked else m
            for m in page
        ],
        {message_id: frozenset(emoji) for message_id, emoji in mine.items()},
    )


async def with_attachments(session: AsyncSession, page: Sequence[Message]) -> list[Message]:
    """The page with the files of its text entries that are not deleted, in their order
    (api-v1.1 E). One query for the whole page, none when it has no such entry."""
    ids = [m.id for m in page if m.kind == "text" and not m.deleted]
    if not ids:
        return list(page)
    found = await attachments_of(session, ids)
    if not found:
        return list(page)
    return [dataclasses.replace(m, attachments=found[m.id]) if m.id in found else m for m in page]


async def text_entry_exists(session: AsyncSession, room_id: UUID, message_id: UUID) -> bool:
    stmt = sa.select(sa.literal(1)).where(
        messages.c.id == message_id, messages.c.room_id == room_id, messages.c.kind == TEXT_KIND
    )
    return (await session.execute(stmt)).first() is not None


async def edits_of(session: AsyncSession, room_id: UUID, message_id: UUID) -> list[Message]:
    """The `edit` entries of one text entry, in seq order."""
    stmt = (
        sa.select(messages)
        .where(
            messages.c.target_id == message_id,
            messages.c.room_id == room_id,
            messages.c.kind == EDIT_KIND,
        )
        .order_by(messages.c.seq)
    )
    return [message_of(r) for r in await session.execute(stmt)]


async def thread_root(session: AsyncSession, room_id: UUID, root_id: UUID) -> Message | None:
    """A top-level `text` entry of the room (a thread root, deleted or not), or None."""
    stmt = sa.select(messages).where(
        messages.c.id == root_id,
        messages.c.room_id == room_id,
        messages.c.kind == TEXT_KIND,
        messages.c.thread_root_id.is_(None),
    )
    row = (await session.execute(stmt)).first()
    return message_of(row) if row is not None else None


async def replies_after(
    session: AsyncSession, room_id: UUID, root_id: UUID, *, after: int, limit: int
) -> tuple[list[Message], bool]:
    """The first `limit` replies (`text` entries) of a thread above seq `after`, ascending, with
    their current state, and whether more exist (index `messages_thread`)."""
    stmt = (
        sa.select(messages)
        .where(
            messages.c.thread_root_id == root_id,
            messages.c.room_id == room_id,
            messages.c.seq > after,
            messages.c.kind == TEXT_KIND,
        )
        .order_by(messages.c.seq)
    )
    return await _fetch(session, stmt, limit)


async def unread_replies(
    session: AsyncSession, page: Sequence[Message], viewer: UUID
) -> dict[UUID, int]:
    """api-v1.1 A `thread.unread_replies` for `viewer`, per thread root of the page the viewer
    took part in (its sender or a replier): replies by others, not deleted, above the viewer's
    read position in that thread (0 if they never read it). Roots that never had a reply are
    absent. One query, and none when no top-level text entry of the page ever changed (a reply sets
    its root's state_seq)."""
    ids = [m.id for m in page if m.kind == "text" and _changed(m)]
    if not ids:
        return {}
    root = messages.alias("root")
    reply = messages.alias("reply")
    position = sa.func.coalesce(thread_reads.c.last_read_seq, 0)
    unread = (
        sa.select(sa.func.count())
        .select_from(reply)
        .where(
            reply.c.thread_root_id == root.c.id,
            reply.c.seq > position,
            reply.c.kind == TEXT_KIND,
            sa.not_(reply.c.deleted),
            reply.c.sender_id != viewer,
        )
        .correlate(root, thread_reads)
        .scalar_subquery()
    )
    stmt = (
        sa.select(root.c.id, unread.label("unread"))
        .select_from(
            root.outerjoin(
                thread_reads,
                sa.and_(
                    thread_reads.c.user_id == viewer, thread_reads.c.thread_root_id == root.c.id
                ),
            )
        )
        .where(
            root.c.id == sa.any_(uuid_array("root_ids", ids)),
            root.c.thread_root_id.is_(None),
            root.c.last_reply_at.isnot(None),  # it has a `thread` summary
            sa.or_(
                root.c.sender_id == viewer,
                sa.literal(viewer, pg.UUID(as_uuid=True)) == sa.any_(root.c.participant_ids),
            ),
        )
    )
    return {row.id: int(row.unread) for row in await session.execute(stmt)}
