"""`room.read.v1`: move a member's read position in the room, or in a thread when the command
names `thread_root_id` (clamped, never back), and announce it."""

from __future__ import annotations

from uuid import UUID

from chat_contracts import types
from chat_runtime.messaging import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.handlers.deps import BusDeps, in_transaction
from message_service.services import reading


async def handle(deps: BusDeps, env: Envelope[types.RoomReadV1]) -> None:
    body = env.body
    room_id, user_id, seq = UUID(body.room_id), UUID(body.user_id), body.seq
    root = body.thread_root_id
    if isinstance(root, str) and "threads" not in deps.features.on:
        # The gateway refuses it while `threads` is off; an older one may not: nothing moves.
        return
    thread_root_id = UUID(root) if isinstance(root, str) else None

    async def work(session: AsyncSession) -> None:
        await reading.mark_read(session, room_id, user_id, seq, thread_root_id)

    await in_transaction(deps, work)
