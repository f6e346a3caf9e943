"""`auth.user.registered.v1` and `auth.user.updated.v1`: keep the local user directory (DMs,
invites, mentions, roles, deactivation); a deleted account leaves every room."""

from __future__ import annotations

from uuid import UUID

from chat_contracts import types
from chat_runtime.messaging import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain import errors
from message_service.handlers.deps import BusDeps, in_transaction
from message_service.services import directory, rooms
from message_service.store import membership_queries


async def handle_registered(deps: BusDeps, env: Envelope[types.AuthUserRegisteredV1]) -> None:
    user = env.body.user

    async def work(session: AsyncSession) -> None:
        await directory.record_user(session, user)

    await in_transaction(deps, work)


async def handle_updated(deps: BusDeps, env: Envelope[types.AuthUserUpdatedV1]) -> None:
    """Idempotent and order-free: an update at or below the stored version changes nothing.
    A deletion removes the memberships through the same leave path as
    `DELETE /v1/rooms/{id}/members/me` (member_left events, the channels' system entries), in
    the update's transaction."""
    user, version = env.body.user, env.body.version
    user_id = UUID(user.id)

    async def work(session: AsyncSession) -> None:
        if not await directory.record_update(session, user, version):
            return
        # Rooms in id order, the order the send path locks them in.
        for room_id in sorted(await membership_queries.room_ids_of_user(session, user_id)):
            try:
                await rooms.leave_room(session, room_id, user_id, features=deps.features)
            except errors.NotAMember:
                continue  # left meanwhile (a concurrent leave or an older copy of this update)

    await in_transaction(deps, work)
