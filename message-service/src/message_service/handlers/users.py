"""`auth.user.registered.v1`: keep the local user directory (used for DMs and invites)."""

from __future__ import annotations

from chat_contracts import types
from chat_runtime.messaging import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.handlers.deps import BusDeps, in_transaction
from message_service.services import directory


async def handle_registered(deps: BusDeps, env: Envelope[types.AuthUserRegisteredV1]) -> None:
    user = env.body.user

    async def work(session: AsyncSession) -> None:
        await directory.record_user(session, user)

    await in_transaction(deps, work)
