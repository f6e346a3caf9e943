"""Room management (api-v1.1 C): rename, topic, archive, remove a member, room roles.

Each use case locks the room row first (as the send path does), checks the caller with the pure
rules of domain/room_roles.py, changes the room, makes its `system` entry through the one send
path (while `entries` is on, as joins do) and owes `room.updated.v1` to the members whose view
of the room changed, all in the caller's transaction."""

from __future__ import annotations

from uuid import UUID

from chat_runtime.features import NONE, Features
from chat_runtime.messaging.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain import errors
from message_service.domain.model import Room, RoomView
from message_service.domain.room_roles import (
    RoomRole,
    Standing,
    admin_refusal,
    clean_topic,
    is_room_admin,
    leaves_no_admin,
)
from message_service.services.events import room_updated_events
from message_service.services.rooms import leave_room, system_entry
from message_service.store import membership_queries, room_queries

# A value of `update_room` that was not given (a topic of None clears it).
UNCHANGED = object()


async def _locked(session: AsyncSession, room_id: UUID, caller: UUID) -> tuple[Room, Standing]:
    """The room, locked until commit, and the caller's standing in it."""
    room = await room_queries.get_room(session, room_id, for_update=True)
    if room is None:
        raise errors.RoomNotFound()
    found = await membership_queries.standings(session, room_id, [caller])
    return room, found.get(caller, Standing(None))


async def _managed(session: AsyncSession, room_id: UUID, caller: UUID) -> Room:
    """The room, locked, when the caller may manage it (a room admin); else the refusal."""
    room, standing = await _locked(session, room_id, caller)
    refusal = admin_refusal(room, standing)
    if refusal is not None:
        raise refusal
    return room


async def _member_standing(session: AsyncSession, room_id: UUID, user_id: UUID) -> Standing:
    standing = (await membership_queries.standings(session, room_id, [user_id]))[user_id]
    if not standing.member:
        raise errors.NotAMember("This person is not a member of this room.")
    return standing


async def _tell_members(
    session: AsyncSession, room_id: UUID, caller: UUID, users: list[UUID] | None = None
) -> RoomView:
    """`room.updated.v1` to these members (None: every member) with the room as each sees it;
    returns the room as the caller sees it."""
    views = await room_queries.member_views(session, room_id, users)
    await add_events(session, store.outbox, room_updated_events(views))
    return views.get(caller) or await _view(session, room_id, caller)


async def _view(session: AsyncSession, room_id: UUID, user_id: UUID) -> RoomView:
    view = await room_queries.room_view(session, room_id, user_id)
    if view is None:  # pragma: no cover - the room is locked by this transaction
        raise errors.RoomNotFound()
    return view


async def update_room(
    session: AsyncSession,
    room_id: UUID,
    caller: UUID,
    *,
    name: str | None = None,
    topic: object = UNCHANGED,
    features: Features = NONE,
) -> RoomView:
    """Rename a channel and/or set its topic (None or "" clears it). An unchanged value makes
    no entry and no event; an archived room refuses both."""
    room = await _managed(session, room_id, caller)
    if room.archived:
        raise errors.Archived("This room is archived: unarchive it to rename it or set a topic.")
    changes: dict[str, object] = {}
    if name is not None and name.strip() != room.name:
        changes["name"] = name.strip()
    if topic is not UNCHANGED:
        assert topic is None or isinstance(topic, str)
        new_topic = clean_topic(topic)
        if new_topic != room.topic:
            changes["topic"] = new_topic
    if not changes:
        return await _view(session, room_id, caller)
    await room_queries.update_room(session, room_id, changes)
    if "entries" in features.on:
        if "name" in changes:
            await system_entry(session, room_id, caller, "renamed", value=str(changes["name"]))
        if "topic" in changes:
            value = changes["topic"]
            await system_entry(
                session,
                room_id,
                caller,
                "topic_changed",
                value=None if value is None else str(value),
            )
    return await _tell_members(session, room_id, caller)


async def set_archived(
    session: AsyncSession,
    room_id: UUID,
    caller: UUID,
    archived: bool,
    *,
    features: Features = NONE,
) -> RoomView:
    """Archive (read-only) or unarchive a channel; already in that state: no entry, no event."""
    room = await _managed(session, room_id, caller)
    if room.archived == archived:
        return await _view(session, room_id, caller)
    await room_queries.update_room(session, room_id, {"archived": archived})
    if "entries" in features.on:
        await system_entry(session, room_id, caller, "archived" if archived else "unarchived")
    return await _tell_members(session, room_id, caller)


async def remove_member(
    session: AsyncSession,
    room_id: UUID,
    caller: UUID,
    target: UUID,
    *,
    features: Features = NONE,
) -> None:
    """A room admin removes a member: the same path as leaving (their sessions get
    `room.left.v1` and stop receiving the room, the others `member_left`), and a
    `member_removed` entry. Removing yourself is leaving (`member_left`), refused only to the
    last room admin of a channel that keeps other members."""
    if target == caller:
        await _leave(session, room_id, caller, features)
        return
    # The caller stays a room admin, so the target is never the last one.
    await _managed(session, room_id, caller)
    await _member_standing(session, room_id, target)
    await leave_room(session, room_id, target, features=features, removed_by=caller)


async def _leave(session: AsyncSession, room_id: UUID, caller: UUID, features: Features) -> None:
    room, standing = await _locked(session, room_id, caller)
    if not standing.member:
        if room.kind == "channel" and room.visibility == "public":
            raise errors.NotAMember()
        raise errors.RoomNotFound()
    if is_room_admin(room.kind, standing):
        admins = await membership_queries.room_admins(session, room_id)
        others = set(await membership_queries.member_ids(session, room_id)) - {caller}
        if others and leaves_no_admin(admins, caller, still_admin=False):
            raise errors.LastRoomAdmin(
                "You are the room's last admin: make someone else an admin before you leave."
            )
    await leave_room(session, room_id, caller, features=features)


async def set_role(
    session: AsyncSession,
    room_id: UUID,
    caller: UUID,
    target: UUID,
    role: RoomRole,
    *,
    features: Features = NONE,
) -> RoomView:
    """A room admin makes a member a room admin or a plain member again (their sessions get
    `room.updated.v1`); the last room admin cannot be demoted. Returns the room as the caller
    sees it."""
    room = await _managed(session, room_id, caller)
    standing = await _member_standing(session, room_id, target)
    if standing.member_role == role:
        return await _view(session, room_id, caller)
    if role == "member":
        after = Standing("member", standing.workspace_role)
        admins = await membership_queries.room_admins(session, room_id)
        if leaves_no_admin(admins, target, still_admin=is_room_admin(room.kind, after)):
            raise errors.LastRoomAdmin()
    await membership_queries.set_role(session, room_id, target, role)
    if "entries" in features.on:
        await system_entry(session, room_id, caller, "role_changed", subject_id=target, value=role)
    return await _tell_members(session, room_id, caller, [target])
