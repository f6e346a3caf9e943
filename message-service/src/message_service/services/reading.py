"""History pages, the edits of an entry, and read positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from chat_runtime.messaging.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain import errors
from message_service.domain.model import Message
from message_service.services.access import member_room
from message_service.services.events import read_event
from message_service.store import membership_queries, message_reads


@dataclass(frozen=True, slots=True)
class Page:
    """A history page as the caller sees it (api-v1 §4, api-v1.1 A "History paging")."""

    messages: list[Message]
    # The emoji the caller reacted with, per entry (REST's `me`).
    mine: dict[UUID, frozenset[str]] = field(default_factory=dict)
    # after_seq pages: more after; the others: more before.
    has_more: bool = False
    # around_seq pages only.
    has_more_after: bool | None = None
    # content_only pages: the seq range (inclusive) whose `text` entries are all in the page.
    covered: tuple[int, int] | None = None


async def history(
    session: AsyncSession,
    room_id: UUID,
    user_id: UUID,
    *,
    after_seq: int | None = None,
    before_seq: int | None = None,
    around_seq: int | None = None,
    limit: int,
    content_only: bool = False,
) -> Page:
    """One page; the caller (the route) has checked that the parameters go together:
    at most one of after/before/around, and content_only only with before or around."""
    room = await member_room(session, room_id, user_id)
    # A content_only scan stops at the room's last seq as read before it (every entry up to it
    # is committed, so the covered range holds no entry the scan could miss).
    upto = room.last_seq if content_only else None
    if around_seq is not None:
        page = await _around(session, room_id, around_seq, limit, content_only, upto)
    elif after_seq is not None:
        rows, more = await message_reads.page_from(
            session, room_id, start=after_seq + 1, limit=limit
        )
        page = Page(rows, has_more=more)
    else:
        rows, more = await message_reads.page_before(
            session, room_id, before=before_seq, limit=limit, content_only=content_only, upto=upto
        )
        covered = None
        if upto is not None:
            top = upto if before_seq is None else min(before_seq - 1, upto)
            covered = (rows[0].seq if more else 1, max(top, 0))
        page = Page(rows, has_more=more, covered=covered)
    return await _with_state(session, page, user_id)


async def _around(
    session: AsyncSession,
    room_id: UUID,
    seq: int,
    limit: int,
    content_only: bool,
    upto: int | None,
) -> Page:
    """`limit` entries centred on `seq`: limit // 2 before it, the rest from it up."""
    half = limit // 2
    before, more_before = await message_reads.page_before(
        session, room_id, before=seq, limit=half, content_only=content_only, upto=upto
    )
    after, more_after = await message_reads.page_from(
        session, room_id, start=seq, limit=limit - half, content_only=content_only, upto=upto
    )
    covered = None
    if upto is not None:
        low = (before[0].seq if before else seq) if more_before else 1
        high = after[-1].seq if more_after else upto
        covered = (low, max(high, 0))
    return Page(before + after, has_more=more_before, has_more_after=more_after, covered=covered)


async def _with_state(session: AsyncSession, page: Page, viewer: UUID) -> Page:
    rows, mine = await message_reads.with_reactions(session, page.messages, viewer)
    return Page(
        rows,
        mine=mine,
        has_more=page.has_more,
        has_more_after=page.has_more_after,
        covered=page.covered,
    )


async def with_state(
    session: AsyncSession, entries: Sequence[Message], viewer: UUID
) -> tuple[list[Message], dict[UUID, frozenset[str]]]:
    """Entries (a send's answer) with the reactions of their text entries and the caller's."""
    return await message_reads.with_reactions(session, entries, viewer)


async def edits(
    session: AsyncSession, room_id: UUID, user_id: UUID, message_id: UUID
) -> list[Message]:
    """The `edit` entries of a text entry of the room, in seq order (api-v1.1 A)."""
    await member_room(session, room_id, user_id)
    if not await message_reads.text_entry_exists(session, room_id, message_id):
        raise errors.NotFound("There is no such message in this room.")
    return await message_reads.edits_of(session, room_id, message_id)


async def mark_read(session: AsyncSession, room_id: UUID, user_id: UUID, seq: int) -> int | None:
    """Move the user's read position (clamped, never back) and announce it when it moved."""
    moved = await membership_queries.advance_read(session, room_id, user_id, seq)
    if moved is not None:
        await add_events(session, store.outbox, [read_event(room_id, user_id, moved)])
    return moved


async def mark_read_checked(session: AsyncSession, room_id: UUID, user_id: UUID, seq: int) -> None:
    await member_room(session, room_id, user_id)
    await mark_read(session, room_id, user_id, seq)
