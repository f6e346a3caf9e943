"""History pages of a room."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.model import Message
from message_service.store.tables import message_of, messages


async def history(
    session: AsyncSession,
    room_id: UUID,
    *,
    after_seq: int | None,
    before_seq: int | None,
    limit: int,
) -> tuple[list[Message], bool]:
    """A page of a room's messages in ascending seq order and whether more exist that way."""
    stmt = sa.select(messages).where(messages.c.room_id == room_id)
    if after_seq is not None:
        stmt = stmt.where(messages.c.seq > after_seq).order_by(messages.c.seq)
    else:
        if before_seq is not None:
            stmt = stmt.where(messages.c.seq < before_seq)
        stmt = stmt.order_by(messages.c.seq.desc())
    rows = [message_of(r) for r in await session.execute(stmt.limit(limit + 1))]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if after_seq is None:
        rows.reverse()
    return rows, has_more
