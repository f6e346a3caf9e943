"""`membership.query.v1` -> `membership.reply.v1`: every room a user is in (the gateway asks
when a connection opens)."""

from __future__ import annotations

from uuid import UUID

from chat_contracts import types
from chat_runtime.messaging import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.handlers.deps import BusDeps, in_transaction
from message_service.store import membership_queries


async def answer(deps: BusDeps, env: Envelope[types.MembershipQueryV1]) -> types.MembershipReplyV1:
    user_id = UUID(env.body.user_id)

    async def work(session: AsyncSession) -> list[UUID]:
        return await membership_queries.room_ids_of_user(session, user_id)

    room_ids = await in_transaction(deps, work)
    return types.MembershipReplyV1(user_id=str(user_id), room_ids=[str(r) for r in room_ids])
