"""Direct conversations: the one room of two users, created on first use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain import errors
from message_service.domain.model import Room, RoomView, direct_key
from message_service.services.directory import known_users
from message_service.services.events import emit_membership
from message_service.services.rooms import get_room
from message_service.store import membership_queries, room_queries, user_directory


async def open_direct(
    session: AsyncSession, caller: UUID, other: UUID, *, user_wait_s: float = 0.0
) -> RoomView:
    """The direct room of `caller` and `other`. A direct room with yourself is allowed (notes
    to self): it has one member."""
    names = await known_users(session, [other], wait_s=user_wait_s)
    names.update(await user_directory.get_usernames(session, [caller]))
    if other not in names:
        raise errors.UserNotFound()
    key = direct_key(caller, other)
    now = datetime.now(UTC)
    room = Room(
        id=uuid.uuid4(),
        kind="direct",
        # Stored once for both sides; clients may show the other person's name instead.
        name=", ".join(sorted({names.get(caller, str(caller)), names[other]})),
        visibility="private",
        created_by=caller,
        created_at=now,
        last_seq=0,
        last_activity_at=now,
        direct_key=key,
    )
    await room_queries.insert_direct_room(session, room)
    existing = await room_queries.get_direct_room(session, key)
    if existing is None:  # pragma: no cover - the insert or a concurrent one made it
        raise errors.RoomNotFound()
    # Re-adding is idempotent; it also brings back someone who left the conversation.
    for user in sorted({caller, other}):
        if await membership_queries.add_member(session, existing.id, user, now):
            await emit_membership(session, existing.id, user, joined=True)
    return await get_room(session, existing.id, caller)
