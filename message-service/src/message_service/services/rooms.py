"""Rooms and memberships: create, show, join or invite, leave, list members, notify levels."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from chat_runtime.features import NONE, Features
from chat_runtime.messaging.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain import errors
from message_service.domain.entries import system_text
from message_service.domain.model import Room, RoomView, Visibility
from message_service.domain.notify import NotifyLevel, default_notify
from message_service.domain.sending import SendCommand
from message_service.services.access import member_room, visible_room
from message_service.services.directory import known_users
from message_service.services.events import emit_membership, room_updated_event
from message_service.services.sending import send_messages
from message_service.store import membership_queries, message_writes, room_queries


async def create_room(
    session: AsyncSession, user_id: UUID, name: str, visibility: Visibility
) -> RoomView:
    now = datetime.now(UTC)
    room = Room(
        id=uuid.uuid4(),
        kind="channel",
        name=name.strip(),
        visibility=visibility,
        created_by=user_id,
        created_at=now,
        last_seq=0,
        last_activity_at=now,
    )
    await room_queries.insert_room(session, room)
    # api-v1.1 C: the creator is the channel's first room admin.
    await membership_queries.add_member(session, room.id, user_id, now, role="admin")
    await emit_membership(session, room.id, user_id, joined=True)
    return RoomView(
        room, member_count=1, last_read_seq=0, notify=default_notify(room.kind), my_role="admin"
    )


async def get_room(session: AsyncSession, room_id: UUID, user_id: UUID) -> RoomView:
    await visible_room(session, room_id, user_id)
    view = await room_queries.room_view(session, room_id, user_id)
    if view is None:
        raise errors.RoomNotFound()
    return view


async def add_member(
    session: AsyncSession,
    room_id: UUID,
    caller: UUID,
    invitee: UUID | None,
    *,
    user_wait_s: float = 0.0,
    features: Features = NONE,
) -> RoomView:
    """`invitee` None: the caller joins a public room; else a member adds someone. With the
    `entries` feature on, a channel's timeline gets a `member_joined` system entry."""
    room, member = await visible_room(session, room_id, caller)
    if invitee is None or invitee == caller:
        target = caller
        if not member and room.visibility != "public":
            raise errors.RoomNotFound()
    else:
        target = invitee
        if not member:
            raise errors.Forbidden("Only members of a room can invite people to it.")
        if room.kind == "direct":
            raise errors.Forbidden("Nobody can be added to a direct conversation.")
        if not await known_users(session, [invitee], wait_s=user_wait_s):
            raise errors.UserNotFound()
    if room.archived:
        raise errors.Archived("This room is archived: nobody can join it or be added to it.")
    entry = room.kind == "channel" and "entries" in features.on
    if entry:
        # The room row first, as the send path takes it: the membership insert's foreign key
        # check holds a share lock on it, and two joiners each holding that while waiting for
        # the entry's FOR UPDATE deadlock.
        await message_writes.lock_rooms(session, [(room_id, target)])
    if await membership_queries.add_member(session, room_id, target, datetime.now(UTC)):
        await emit_membership(session, room_id, target, joined=True)
        if entry:
            await system_entry(session, room_id, target, "member_joined")
    return await get_room(session, room_id, caller)


async def leave_room(
    session: AsyncSession,
    room_id: UUID,
    user_id: UUID,
    *,
    features: Features = NONE,
    removed_by: UUID | None = None,
) -> None:
    """The user leaves the room (their sessions get `room.left.v1`, the room `member_left`);
    `removed_by`: a room admin removed them, and the channel's entry says `member_removed`."""
    entry = False
    if "entries" in features.on:
        # The room first, as the send path locks it: a send batch holding it may be moving
        # this user's read position, which the membership's removal would otherwise lock.
        locked = await message_writes.lock_rooms(session, [(room_id, user_id)])
        state = locked.get(room_id)
        entry = state is not None and state.kind == "channel"
    if not await membership_queries.remove_member(session, room_id, user_id):
        raise errors.NotAMember("You are not a member of this room.")
    await emit_membership(session, room_id, user_id, joined=False)
    if entry and removed_by is not None:
        await system_entry(session, room_id, removed_by, "member_removed", subject_id=user_id)
    elif entry:
        await system_entry(session, room_id, user_id, "member_left")


async def system_entry(
    session: AsyncSession,
    room_id: UUID,
    actor_id: UUID,
    event: str,
    *,
    subject_id: UUID | None = None,
    value: str | None = None,
) -> None:
    """A `system` timeline entry (api-v1.1 A) through the one send path: its own seq, its
    `message.created.v1`, in the caller's transaction. The service makes it: no client can.
    `actor_id` is its sender; `subject_id` the member it is about, `value` the new value."""
    people = [actor_id] if subject_id is None else [actor_id, subject_id]
    names = await message_writes.display_names(session, people)
    cmd = SendCommand(
        client_msg_id=uuid.uuid4(),
        room_id=room_id,
        sender_id=actor_id,
        text=system_text(
            event,
            names.get(actor_id, "Someone"),
            names.get(subject_id, "someone") if subject_id is not None else None,
            value,
        ),
        kind="system",
        event=event,
        subject_id=subject_id,
        value=value,
    )
    await send_messages(session, [cmd], rejections=False)


async def list_members(
    session: AsyncSession, room_id: UUID, user_id: UUID
) -> list[tuple[UUID, datetime, int, str]]:
    await member_room(session, room_id, user_id)
    return await membership_queries.members(session, room_id)


async def set_notify(
    session: AsyncSession, room_id: UUID, user_id: UUID, level: NotifyLevel
) -> RoomView:
    """A member's notify level for a room (api-v1.1 B); the user's sessions learn it from
    `room.updated.v1` (the room as their `GET /v1/rooms` lists it)."""
    await member_room(session, room_id, user_id)
    if not await membership_queries.set_notify(session, room_id, user_id, level):
        raise errors.NotAMember("You are not a member of this room.")  # left meanwhile
    view = await room_queries.room_view(session, room_id, user_id)
    if view is None:  # pragma: no cover - the membership row was just updated
        raise errors.RoomNotFound()
    await add_events(session, store.outbox, [room_updated_event(user_id, view)])
    return view
