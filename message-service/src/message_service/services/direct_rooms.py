"""Direct conversations: the one direct room of a set of users (api-v1 §4, api-v1.1 C), created
on first use. `{user_id}` (v1) is the set of the caller and one other; `{user_ids}` a group of
the caller and 2 to 8 others."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Set
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain import errors
from message_service.domain.model import Room, RoomView, direct_key
from message_service.services.directory import known_users
from message_service.services.events import emit_membership
from message_service.services.rooms import get_room
from message_service.store import membership_queries, room_queries, user_directory

# api-v1.1 C: a group direct room holds the caller and 2 to 8 others.
GROUP_OTHERS_MIN = 2
GROUP_OTHERS_MAX = 8


def group_others(caller: UUID, listed: Iterable[UUID]) -> frozenset[UUID]:
    """The others of a group direct room from a request's `user_ids`, pure: the caller, if
    listed, is left out (it is always a member); 2 to 8 distinct others, else 422."""
    others = frozenset(listed) - {caller}
    if not GROUP_OTHERS_MIN <= len(others) <= GROUP_OTHERS_MAX:
        raise errors.InvalidField(
            f"A group conversation has {GROUP_OTHERS_MIN} to {GROUP_OTHERS_MAX} other people "
            f"besides you; {len(others)} given.",
            "group_size",
            "user_ids",
        )
    return others


async def open_direct(
    session: AsyncSession, caller: UUID, other: UUID, *, user_wait_s: float = 0.0
) -> RoomView:
    """The direct room of `caller` and `other` (v1). A direct room with yourself is allowed
    (notes to self): it has one member. Opening it again brings both back (v1 behaviour: the
    other person can be reached again; blocking is how to refuse that)."""
    members = frozenset({caller, other})
    return await _open(session, caller, members, re_add=members, user_wait_s=user_wait_s)


async def open_group(
    session: AsyncSession, caller: UUID, others: Set[UUID], *, user_wait_s: float = 0.0
) -> RoomView:
    """The group direct room of the caller and `others` (see group_others). Created on first
    call with everyone in it; calling again re-adds only the caller, if they had left (nobody
    is pulled back into a conversation they left)."""
    members = frozenset(others) | {caller}
    return await _open(session, caller, members, re_add={caller}, user_wait_s=user_wait_s)


async def _open(
    session: AsyncSession,
    caller: UUID,
    members: frozenset[UUID],
    *,
    re_add: Set[UUID],
    user_wait_s: float,
) -> RoomView:
    others = sorted(members - {caller})
    names = await known_users(session, others, wait_s=user_wait_s)
    if any(user not in names for user in others):
        raise errors.UserNotFound()
    names.update(await user_directory.get_usernames(session, [caller]))
    key = direct_key(*members)
    now = datetime.now(UTC)
    room = Room(
        id=uuid.uuid4(),
        kind="direct",
        # Stored once for everyone; clients may show the other people's names instead.
        name=", ".join(sorted({names.get(user, str(user)) for user in members})),
        visibility="private",
        created_by=caller,
        created_at=now,
        last_seq=0,
        last_activity_at=now,
        direct_key=key,
    )
    created = await room_queries.insert_direct_room(session, room)
    existing = await room_queries.get_direct_room(session, key)
    if existing is None:  # pragma: no cover - the insert or a concurrent one made it
        raise errors.RoomNotFound()
    # Adding is idempotent: a member already in the room is left as is.
    for user in sorted(members if created else re_add):
        if await membership_queries.add_member(session, existing.id, user, now):
            await emit_membership(session, existing.id, user, joined=True)
    return await get_room(session, existing.id, caller)
