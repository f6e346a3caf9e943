"""Use cases of message-service, each run inside the caller's transaction.

The REST routes and the bus handlers both call these, so a message sent over REST and one sent
over the WebSocket go through the same dedup, membership, text and seq rules, and every change is
committed together with the events it owes (transactional outbox).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from chat_runtime.messaging import EXCHANGE_EVENTS
from chat_runtime.messaging.outbox import OutboxEvent, add_event, add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain import errors
from message_service.domain.model import Room, RoomView, Visibility, access_of, direct_key
from message_service.domain.sending import (
    Created,
    Duplicate,
    Outcome,
    Rejected,
    RoomState,
    SendCommand,
    plan_batch,
)
from message_service.wire import message_json


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- events through the outbox -----------------------------------------------------------------


async def _emit(
    session: AsyncSession, routing_key: str, type_name: str, body: dict[str, Any]
) -> None:
    await add_event(
        session,
        store.outbox,
        exchange=EXCHANGE_EVENTS,
        routing_key=routing_key,
        type_name=type_name,
        body=body,
    )


async def emit_membership(
    session: AsyncSession, room_id: UUID, user_id: UUID, *, joined: bool
) -> None:
    ids = {"room_id": str(room_id), "user_id": str(user_id)}
    if joined:
        await _emit(session, f"room.{room_id}.member_joined.v1", "member_joined.v1", ids)
        await _emit(session, f"user.{user_id}.room.joined.v1", "room.joined.v1", ids)
    else:
        await _emit(session, f"room.{room_id}.member_left.v1", "member_left.v1", ids)
        await _emit(session, f"user.{user_id}.room.left.v1", "room.left.v1", ids)


async def emit_rejected(
    session: AsyncSession,
    *,
    client_msg_id: str,
    room_id: str,
    sender_id: str,
    code: str,
    message: str,
) -> None:
    await _emit(
        session,
        f"user.{sender_id}.message.rejected.v1",
        "message.rejected.v1",
        {
            "client_msg_id": client_msg_id,
            "room_id": room_id,
            "sender_id": sender_id,
            "code": code,
            "message": message,
        },
    )


def _outcome_events(cmd: SendCommand, outcome: Outcome, *, rejections: bool) -> list[OutboxEvent]:
    if isinstance(outcome, Rejected):
        if not rejections:
            return []
        body = {
            "client_msg_id": str(cmd.client_msg_id),
            "room_id": str(cmd.room_id),
            "sender_id": str(cmd.sender_id),
            "code": outcome.code,
            "message": outcome.detail,
        }
        return [
            OutboxEvent(f"user.{cmd.sender_id}.message.rejected.v1", "message.rejected.v1", body)
        ]
    message = message_json(outcome.message)
    events = []
    if isinstance(outcome, Created) or outcome.reemit_created:
        # A duplicate re-emits `created` so a recipient who missed the first one still gets it.
        events.append(
            OutboxEvent(
                f"room.{cmd.room_id}.message.created.v1", "message.created.v1", {"message": message}
            )
        )
    if isinstance(outcome, Duplicate):
        # Only a repeat needs `accepted`: a first send is acked by the gateway on `created`, which
        # it always receives (it binds the room before publishing). One event per message instead
        # of two halves the outbox relay's work on the hot path.
        events.append(
            OutboxEvent(
                f"user.{cmd.sender_id}.message.accepted.v1",
                "message.accepted.v1",
                {"client_msg_id": str(cmd.client_msg_id), "message": message},
            )
        )
    return events


# --- sending -----------------------------------------------------------------------------------


async def send_messages(
    session: AsyncSession,
    commands: Sequence[SendCommand],
    *,
    rejections: bool = True,
    now: datetime | None = None,
    new_id: Callable[[], UUID] = uuid.uuid4,
) -> list[Outcome]:
    """Decide and persist a batch of sends; rooms are locked (in id order) until commit."""
    now = now or utcnow()
    locked = await store.lock_rooms(session, ((c.room_id, c.sender_id) for c in commands))
    existing = await store.messages_by_client_ids(
        session, ((c.sender_id, c.client_msg_id) for c in commands)
    )
    room_states = {
        room_id: RoomState(last_seq=seq, members=members)
        for room_id, (seq, members) in locked.items()
    }
    plan = plan_batch(commands, room_states, existing, now=now, new_id=new_id)
    await store.write_batch(session, plan.new_messages, plan.last_seqs, plan.read_positions, now)
    await add_events(
        session,
        store.outbox,
        [
            event
            for cmd, outcome in zip(commands, plan.outcomes, strict=True)
            for event in _outcome_events(cmd, outcome, rejections=rejections)
        ],
    )
    return plan.outcomes


async def _visible_room(
    session: AsyncSession, room_id: UUID, user_id: UUID, *, for_update: bool = False
) -> tuple[Room, bool]:
    """The room and whether the user is a member; RoomNotFound when they may not even see it."""
    room = await store.get_room(session, room_id, for_update=for_update)
    member = room is not None and await store.is_member(session, room_id, user_id)
    if access_of(room, member) == "hidden" or room is None:
        raise errors.RoomNotFound()
    return room, member


async def _member_room(session: AsyncSession, room_id: UUID, user_id: UUID) -> Room:
    room, member = await _visible_room(session, room_id, user_id)
    if not member:
        raise errors.Forbidden("Join this room first.")
    return room


async def send_one(
    session: AsyncSession, room_id: UUID, user_id: UUID, client_msg_id: UUID, text: str
) -> Created | Duplicate:
    """REST send: same rules as the consumer; domain errors for the refusals."""
    await _member_room(session, room_id, user_id)
    cmd = SendCommand(client_msg_id=client_msg_id, room_id=room_id, sender_id=user_id, text=text)
    (outcome,) = await send_messages(session, [cmd], rejections=False)
    if isinstance(outcome, Rejected):
        if outcome.code == "client_msg_id_reused":
            raise errors.ClientMsgIdReused(outcome.detail)
        if outcome.code == "not_a_member":
            raise errors.Forbidden(outcome.detail)
        raise errors.InvalidText(outcome.detail, outcome.code)
    return outcome


# --- the user directory ------------------------------------------------------------------------

USER_POLL_INTERVAL_S = 0.05


async def known_users(
    session: AsyncSession, user_ids: Sequence[UUID], *, wait_s: float
) -> dict[UUID, str]:
    """Usernames of the users in the local directory, waiting up to `wait_s` for missing ones.

    The directory is fed by `auth.user.registered.v1`, so a user who registered a moment ago may
    not be in it yet; a client that opens a DM right after the other person signed up should not
    get 404 for that. Polled (not awaited in-process) because another replica may consume the
    event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        names = await store.get_usernames(session, user_ids)
        if len(names) == len(set(user_ids)) or loop.time() >= deadline:
            return names
        await asyncio.sleep(USER_POLL_INTERVAL_S)


# --- rooms and memberships ---------------------------------------------------------------------


async def create_room(
    session: AsyncSession, user_id: UUID, name: str, visibility: Visibility
) -> RoomView:
    now = utcnow()
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
    await store.insert_room(session, room)
    await store.add_member(session, room.id, user_id, now)
    await emit_membership(session, room.id, user_id, joined=True)
    return RoomView(room, member_count=1, last_read_seq=0)


async def get_room(session: AsyncSession, room_id: UUID, user_id: UUID) -> RoomView:
    await _visible_room(session, room_id, user_id)
    view = await store.room_view(session, room_id, user_id)
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
) -> RoomView:
    """`invitee` None: the caller joins a public room; else a member adds someone."""
    room, member = await _visible_room(session, room_id, caller)
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
    if await store.add_member(session, room_id, target, utcnow()):
        await emit_membership(session, room_id, target, joined=True)
    return await get_room(session, room_id, caller)


async def leave_room(session: AsyncSession, room_id: UUID, user_id: UUID) -> None:
    if not await store.remove_member(session, room_id, user_id):
        raise errors.NotAMember("You are not a member of this room.")
    await emit_membership(session, room_id, user_id, joined=False)


async def list_members(
    session: AsyncSession, room_id: UUID, user_id: UUID
) -> list[tuple[UUID, datetime, int]]:
    await _member_room(session, room_id, user_id)
    return await store.members(session, room_id)


async def history(
    session: AsyncSession,
    room_id: UUID,
    user_id: UUID,
    *,
    after_seq: int | None,
    before_seq: int | None,
    limit: int,
) -> tuple[list[Any], bool]:
    await _member_room(session, room_id, user_id)
    return await store.history(
        session, room_id, after_seq=after_seq, before_seq=before_seq, limit=limit
    )


async def mark_read(session: AsyncSession, room_id: UUID, user_id: UUID, seq: int) -> int | None:
    """Move the user's read position (clamped, never back) and announce it when it moved."""
    moved = await store.advance_read(session, room_id, user_id, seq)
    if moved is not None:
        await _emit(
            session,
            f"room.{room_id}.read.v1",
            "read.v1",
            {"room_id": str(room_id), "user_id": str(user_id), "seq": moved},
        )
    return moved


async def mark_read_checked(session: AsyncSession, room_id: UUID, user_id: UUID, seq: int) -> None:
    await _member_room(session, room_id, user_id)
    await mark_read(session, room_id, user_id, seq)


async def open_direct(
    session: AsyncSession, caller: UUID, other: UUID, *, user_wait_s: float = 0.0
) -> RoomView:
    """The one direct room of two users, created on first use.

    A direct room with yourself is allowed (notes to self): it has one member.
    """
    names = await known_users(session, [other], wait_s=user_wait_s)
    names.update(await store.get_usernames(session, [caller]))
    if other not in names:
        raise errors.UserNotFound()
    key = direct_key(caller, other)
    now = utcnow()
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
    await store.insert_direct_room(session, room)
    existing = await store.get_direct_room(session, key)
    if existing is None:  # pragma: no cover - the insert or a concurrent one made it
        raise errors.RoomNotFound()
    # Re-adding is idempotent; it also brings back someone who left the conversation.
    for user in sorted({caller, other}):
        if await store.add_member(session, existing.id, user, now):
            await emit_membership(session, existing.id, user, joined=True)
    return await get_room(session, existing.id, caller)


async def record_user(session: AsyncSession, user: dict[str, Any]) -> None:
    await store.upsert_user(
        session,
        UUID(user["id"]),
        user["username"],
        user["display_name"],
        datetime.fromisoformat(user["created_at"].replace("Z", "+00:00")),
    )
