"""History pages and read positions."""

from __future__ import annotations

from uuid import UUID

from chat_runtime.messaging.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain.model import Message
from message_service.services.access import member_room
from message_service.services.events import read_event
from message_service.store import membership_queries, message_reads


async def history(
    session: AsyncSession,
    room_id: UUID,
    user_id: UUID,
    *,
    after_seq: int | None,
    before_seq: int | None,
    limit: int,
) -> tuple[list[Message], bool]:
    await member_room(session, room_id, user_id)
    return await message_reads.history(
        session, room_id, after_seq=after_seq, before_seq=before_seq, limit=limit
    )


async def mark_read(session: AsyncSession, room_id: UUID, user_id: UUID, seq: int) -> int | None:
    """Move the user's read position (clamped, never back) and announce it when it moved."""
    moved = await membership_queries.advance_read(session, room_id, user_id, seq)
    if moved is not None:
        await add_events(session, store.outbox, [read_event(room_id, user_id, moved)])
    return moved


async def mark_read_checked(session: AsyncSession, room_id: UUID, user_id: UUID, seq: int) -> None:
    await member_room(session, room_id, user_id)
    await mark_read(session, room_id, user_id, seq)
