"""`room.read.v1`: move a member's read position (clamped, never back) and announce it."""

from __future__ import annotations

from uuid import UUID

from chat_contracts import types
from chat_runtime.messaging import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.handlers.deps import BusDeps, in_transaction
from message_service.services import reading


async def handle(deps: BusDeps, env: Envelope[types.RoomReadV1]) -> None:
    room_id, user_id, seq = UUID(env.body.room_id), UUID(env.body.user_id), env.body.seq

    async def work(session: AsyncSession) -> None:
        await reading.mark_read(session, room_id, user_id, seq)

    await in_transaction(deps, work)
