"""History pages, threads, the edits of an entry, and read positions (a room's, a thread's)."""

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
    # Thread roots of the page the caller took part in: their replies the caller has not read
    # (REST's `thread.unread_replies`).
    unread: dict[UUID, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Thread:
    """A thread as the caller sees it (api-v1.1 A): its root (maybe a tombstone) and a page of
    replies in seq order."""

    root: Message
    replies: list[Message]
    has_more: bool
    mine: dict[UUID, frozenset[str]] = field(default_factory=dict)
    unread: dict[UUID, int] = field(default_factory=dict)


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
    rows = await message_reads.with_attachments(session, rows)
    return Page(
        rows,
        mine=mine,
        has_more=page.has_more,
        has_more_after=page.has_more_after,
        covered=page.covered,
        unread=await message_reads.unread_replies(session, rows, viewer),
    )


async def thread(
    session: AsyncSession,
    room_id: UUID,
    user_id: UUID,
    root_id: UUID,
    *,
    after_seq: int = 0,
    limit: int,
) -> Thread:
    """A thread's root and its replies above `after_seq` (api-v1.1 A). A deleted root still
    answers (a tombstone with its replies); a root that is not a top-level text entry of the
    room is not_found."""
    await member_room(session, room_id, user_id)
    root = await message_reads.thread_root(session, room_id, root_id)
    if root is None:
        raise errors.NotFound("There is no such thread in this room.")
    replies, more = await message_reads.replies_after(
        session, room_id, root_id, after=after_seq, limit=limit
    )
    rows, mine = await message_reads.with_reactions(session, [root, *replies], user_id)
    rows = await message_reads.with_attachments(session, rows)
    unread = await message_reads.unread_replies(session, rows[:1], user_id)
    return Thread(rows[0], rows[1:], more, mine=mine, unread=unread)


async def with_state(
    session: AsyncSession, entries: Sequence[Message], viewer: UUID
) -> tuple[list[Message], dict[UUID, frozenset[str]]]:
    """Entries (a send's answer) with the reactions of their text entries and the caller's
    (their attachments came with them from the send path)."""
    return await message_reads.with_reactions(session, entries, viewer)


async def edits(
    session: AsyncSession, room_id: UUID, user_id: UUID, message_id: UUID
) -> list[Message]:
    """The `edit` entries of a text entry of the room, in seq order (api-v1.1 A)."""
    await member_room(session, room_id, user_id)
    if not await message_reads.text_entry_exists(session, room_id, message_id):
        raise errors.NotFound("There is no such message in this room.")
    return await message_reads.edits_of(session, room_id, message_id)


async def mark_read(
    session: AsyncSession,
    room_id: UUID,
    user_id: UUID,
    seq: int,
    thread_root_id: UUID | None = None,
) -> int | None:
    """Move the user's read position in the room, or with `thread_root_id` in that thread
    (clamped to the room's last seq, never back), and announce it when it moved. A thread read
    of a non-member or of something that is not a thread root of the room moves nothing."""
    if thread_root_id is None:
        moved = await membership_queries.advance_read(session, room_id, user_id, seq)
    else:
        moved = await membership_queries.advance_thread_read(
            session, room_id, user_id, thread_root_id, seq
        )
    if moved is not None:
        event = read_event(room_id, user_id, moved, thread_root_id)
        await add_events(session, store.outbox, [event])
    return moved


async def mark_read_checked(
    session: AsyncSession,
    room_id: UUID,
    user_id: UUID,
    seq: int,
    thread_root_id: UUID | None = None,
) -> None:
    """REST: as mark_read, after the checks that answer a problem (not a member; no such
    thread)."""
    await member_room(session, room_id, user_id)
    if thread_root_id is not None and (
        await message_reads.thread_root(session, room_id, thread_root_id) is None
    ):
        raise errors.NotFound("There is no such thread in this room.")
    await mark_read(session, room_id, user_id, seq, thread_root_id)
