"""Who may see a room: members everything, others a public room's card only."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain import errors
from message_service.domain.model import Room, access_of
from message_service.store import membership_queries, room_queries


async def visible_room(
    session: AsyncSession, room_id: UUID, user_id: UUID, *, for_update: bool = False
) -> tuple[Room, bool]:
    """The room and whether the user is a member; RoomNotFound when they may not even see it."""
    room = await room_queries.get_room(session, room_id, for_update=for_update)
    member = room is not None and await membership_queries.is_member(session, room_id, user_id)
    if access_of(room, member) == "hidden" or room is None:
        raise errors.RoomNotFound()
    return room, member


async def member_room(session: AsyncSession, room_id: UUID, user_id: UUID) -> Room:
    room, member = await visible_room(session, room_id, user_id)
    if not member:
        raise errors.Forbidden("Join this room first.")
    return room
