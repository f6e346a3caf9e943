"""The events the use cases owe, as contract structs written to the outbox in the caller's
transaction (the relay publishes them after commit, ADR 0003)."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

import msgspec
from chat_contracts import names, types
from chat_runtime.messaging.outbox import OutboxEvent, add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain.model import RoomView
from message_service.domain.sending import (
    Created,
    Duplicate,
    Noop,
    Outcome,
    Rejected,
    SendCommand,
)
from message_service.wire import message_struct, room_json


def membership_events(room_id: UUID, user_id: UUID, *, joined: bool) -> list[OutboxEvent]:
    """To the room's members (`member_joined`/`member_left`) and to the user's own sessions
    (`room.joined`/`room.left`)."""
    room, user = str(room_id), str(user_id)
    if joined:
        return [
            OutboxEvent(
                names.room_key(room, names.MEMBER_JOINED_V1),
                types.MemberJoinedV1(room_id=room, user_id=user),
            ),
            OutboxEvent(
                names.user_key(user, names.ROOM_JOINED_V1),
                types.RoomJoinedV1(user_id=user, room_id=room),
            ),
        ]
    return [
        OutboxEvent(
            names.room_key(room, names.MEMBER_LEFT_V1),
            types.MemberLeftV1(room_id=room, user_id=user),
        ),
        OutboxEvent(
            names.user_key(user, names.ROOM_LEFT_V1),
            types.RoomLeftV1(user_id=user, room_id=room),
        ),
    ]


async def emit_membership(
    session: AsyncSession, room_id: UUID, user_id: UUID, *, joined: bool
) -> None:
    await add_events(session, store.outbox, membership_events(room_id, user_id, joined=joined))


def read_event(
    room_id: UUID, user_id: UUID, seq: int, thread_root_id: UUID | None = None
) -> OutboxEvent:
    """A read position moved: the room's, or with `thread_root_id` the user's position in that
    thread (api-v1.1 B; the gateway sends those to the reader's own sockets only)."""
    room = str(room_id)
    return OutboxEvent(
        names.room_key(room, names.READ_V1),
        types.ReadV1(
            room_id=room,
            user_id=str(user_id),
            seq=seq,
            thread_root_id=str(thread_root_id) if thread_root_id is not None else msgspec.UNSET,
        ),
    )


def room_updated_event(user_id: UUID, view: RoomView) -> OutboxEvent:
    """A room changed for one user (api-v1.1 B: their notify level, ...): the room as that
    user's `GET /v1/rooms` lists it, to their own sessions."""
    user = str(user_id)
    room = msgspec.convert(room_json(view), types.Room)
    return OutboxEvent(
        names.user_key(user, names.ROOM_UPDATED_V1),
        types.RoomUpdatedV1(user_id=user, room=room),
    )


def rejected_event(cmd: SendCommand, code: types.ErrorCode, message: str) -> OutboxEvent:
    sender = str(cmd.sender_id)
    return OutboxEvent(
        names.user_key(sender, names.MESSAGE_REJECTED_V1),
        types.MessageRejectedV1(
            client_msg_id=str(cmd.client_msg_id),
            room_id=str(cmd.room_id),
            sender_id=sender,
            code=code,
            message=message,
        ),
    )


def outcome_events(cmd: SendCommand, outcome: Outcome, *, rejections: bool) -> list[OutboxEvent]:
    """What one decided send command owes: `created`, `accepted` for a repeat or a no-op, or
    `rejected`. Acks name the command's sender (api-v1.1 A), never the target's."""
    if isinstance(outcome, Rejected):
        return [rejected_event(cmd, outcome.code, outcome.detail)] if rejections else []
    message = message_struct(outcome.message)
    if isinstance(outcome, Noop) or (isinstance(outcome, Duplicate) and outcome.noop):
        # No entry: the current target is the answer (its state_seq tells where it stands).
        return [accepted_event(cmd, message, noop=True)]
    events = []
    if isinstance(outcome, Created) or outcome.reemit_created:
        # A duplicate re-emits `created` so a recipient who missed the first one still gets it.
        events.append(
            OutboxEvent(
                names.room_key(message.room_id, names.MESSAGE_CREATED_V1),
                types.MessageCreatedV1(message=message),
            )
        )
    if isinstance(outcome, Duplicate):
        # Only a repeat needs `accepted`: a first send is acked by the gateway on `created`, which
        # it always receives (it binds the room before publishing). One event per message instead
        # of two halves the outbox relay's work on the hot path.
        events.append(accepted_event(cmd, message))
    return events


def accepted_event(cmd: SendCommand, message: types.Message, *, noop: bool = False) -> OutboxEvent:
    sender = str(cmd.sender_id)
    return OutboxEvent(
        names.user_key(sender, names.MESSAGE_ACCEPTED_V1),
        types.MessageAcceptedV1(
            client_msg_id=str(cmd.client_msg_id),
            message=message,
            sender_id=sender,
            noop=True if noop else msgspec.UNSET,
        ),
    )


def room_updated_events(views: Mapping[UUID, RoomView]) -> list[OutboxEvent]:
    """`room.updated.v1` to each of these users: the room as they see it (api-v1.1 B/C)."""
    return [room_updated_event(user, view) for user, view in views.items()]
