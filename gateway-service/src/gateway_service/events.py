"""What each event on the gateway queue does: turn it into frames for local sockets (each
encoded once for all recipients), or change what the gateway listens to.

Handlers take the delivery's envelope; its body is the contract struct, decoded and validated by
the runtime's consumer. `handlers(gw)` is the table the gateway's consumer dispatches on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any

import msgspec
from chat_contracts import names, raw_fields, types
from chat_runtime.messaging import Envelope, Handler
from chat_runtime.metrics import observe

from gateway_service.domain.frames import encode_frame, frame_type
from gateway_service.hub import Gateway
from gateway_service.metrics import SEND_ACK

_MESSAGE_NEW = frame_type(types.WsServerMessageNewV1)
_MESSAGE_ACK = frame_type(types.WsServerMessageAckV1)
_ROOM_UPDATED = frame_type(types.WsServerRoomUpdatedV1)
_encode = msgspec.json.Encoder().encode


def _carried_message(envelope: Envelope[Any]) -> msgspec.Raw:
    """The event's `message` exactly as it arrived: fields and kinds this release does not know
    reach the clients unchanged (services carry what they do not understand)."""
    return raw_fields(envelope.raw)["message"]


def _message_new_frame(message: msgspec.Raw) -> str:
    """`message.new` (the fields of WsServerMessageNewV1) around the message as it arrived."""
    return _encode({"type": _MESSAGE_NEW, "message": message}).decode()


def _ack_frame(client_msg_id: str, message: msgspec.Raw, *, noop: bool = False) -> str:
    """`message.ack` (the fields of WsServerMessageAckV1) around the message as it arrived;
    `noop: true` when the send changed nothing and `message` is the current target."""
    fields: dict[str, object] = {
        "type": _MESSAGE_ACK,
        "client_msg_id": client_msg_id,
        "message": message,
    }
    if noop:
        fields["noop"] = True
    return _encode(fields).decode()


def _ack_pending(
    gw: Gateway, sender_id: str, client_msg_id: str, raw: msgspec.Raw, *, noop: bool = False
) -> None:
    """Ack the connection waiting for the send (sender_id, client_msg_id), if one is here."""
    entry = gw.pending.take(sender_id, client_msg_id)
    if entry is not None:
        connection_id, sent_at = entry
        observe(SEND_ACK, max(0.0, gw.clock() - sent_at))
        gw.deliver([connection_id], _ack_frame(client_msg_id, raw, noop=noop))


async def on_message_created(gw: Gateway, envelope: Envelope[types.MessageCreatedV1]) -> None:
    message = envelope.body.message
    raw = _carried_message(envelope)
    # The entry's own sender and client_msg_id: an edit, delete or reaction acks its sender.
    _ack_pending(gw, message.sender_id, message.client_msg_id, raw)
    gw.deliver(gw.registry.room_connections(message.room_id), _message_new_frame(raw))


def accepted_sender(body: types.MessageAcceptedV1) -> str:
    """Whose send `accepted` acknowledges: `sender_id` (api-v1.1 A); a 0.2.0 producer has none,
    and its `message` is always the sender's own entry then. For a no-op reaction `message` is
    the target, whose sender is somebody else."""
    if isinstance(body.sender_id, str):
        return body.sender_id
    return body.message.sender_id


async def on_message_accepted(gw: Gateway, envelope: Envelope[types.MessageAcceptedV1]) -> None:
    body = envelope.body
    _ack_pending(
        gw,
        accepted_sender(body),
        body.client_msg_id,
        _carried_message(envelope),
        noop=body.noop is True,
    )


async def on_message_rejected(gw: Gateway, envelope: Envelope[types.MessageRejectedV1]) -> None:
    body = envelope.body
    frame = types.WsServerErrorV1(
        type="error",
        code=body.code,
        message=body.message or "The message was refused.",
        ref=body.client_msg_id,
    )
    connection_id = gw.pending.pop(body.sender_id, body.client_msg_id)
    # Without a waiting connection (it reconnected meanwhile) every tab of the sender hears it.
    targets = [connection_id] if connection_id else gw.registry.connections_of_user(body.sender_id)
    gw.deliver(targets, encode_frame(frame))


def _others_in_room(gw: Gateway, room_id: str, excluded_user: str) -> Iterable[str]:
    excluded = set(gw.registry.connections_of_user(excluded_user))
    return (c for c in gw.registry.room_connections(room_id) if c not in excluded)


def _member_joined(room_id: str, user_id: str) -> str:
    return encode_frame(
        types.WsServerRoomMemberJoinedV1(
            type="room.member_joined", room_id=room_id, user_id=user_id
        )
    )


def _member_left(room_id: str, user_id: str) -> str:
    return encode_frame(
        types.WsServerRoomMemberLeftV1(type="room.member_left", room_id=room_id, user_id=user_id)
    )


async def on_member_joined(gw: Gateway, envelope: Envelope[types.MemberJoinedV1]) -> None:
    room_id, user_id = envelope.body.room_id, envelope.body.user_id
    # The joining user's own sockets hear it through `room.joined.v1` (user scope).
    gw.deliver(_others_in_room(gw, room_id, user_id), _member_joined(room_id, user_id))


async def on_member_left(gw: Gateway, envelope: Envelope[types.MemberLeftV1]) -> None:
    room_id, user_id = envelope.body.room_id, envelope.body.user_id
    gw.deliver(_others_in_room(gw, room_id, user_id), _member_left(room_id, user_id))


async def on_room_joined(gw: Gateway, envelope: Envelope[types.RoomJoinedV1]) -> None:
    user_id, room_id = envelope.body.user_id, envelope.body.room_id
    if not gw.registry.connections_of_user(user_id):
        return
    await gw.join_room(user_id, room_id)  # bound before the client hears about it
    gw.deliver(gw.registry.connections_of_user(user_id), _member_joined(room_id, user_id))


async def on_room_left(gw: Gateway, envelope: Envelope[types.RoomLeftV1]) -> None:
    user_id, room_id = envelope.body.user_id, envelope.body.room_id
    if not gw.registry.connections_of_user(user_id):
        return
    gw.leave_room(user_id, room_id)
    gw.deliver(gw.registry.connections_of_user(user_id), _member_left(room_id, user_id))


async def on_read(gw: Gateway, envelope: Envelope[types.ReadV1]) -> None:
    """A room read position goes to the room; a thread's (`thread_root_id`, api-v1.1 B) is
    private: only the reader's own sockets hear it."""
    body = envelope.body
    frame = types.WsServerReadV1(
        type="read",
        room_id=body.room_id,
        user_id=body.user_id,
        seq=body.seq,
        thread_root_id=body.thread_root_id,
    )
    if body.thread_root_id is msgspec.UNSET:
        targets = gw.registry.room_connections(body.room_id)
    else:
        targets = gw.registry.connections_of_user(body.user_id)
    gw.deliver(targets, encode_frame(frame))


def _room_updated_frame(room: msgspec.Raw) -> str:
    """`room.updated` (the fields of WsServerRoomUpdatedV1) around the room as it arrived."""
    return _encode({"type": _ROOM_UPDATED, "room": room}).decode()


async def on_room_updated(gw: Gateway, envelope: Envelope[types.RoomUpdatedV1]) -> None:
    """A room changed for one user (api-v1.1 B): to that user's sockets, the room passed on as
    it arrived (fields this release does not know included)."""
    targets = gw.registry.connections_of_user(envelope.body.user_id)
    if targets:
        gw.deliver(targets, _room_updated_frame(raw_fields(envelope.raw)["room"]))


async def on_typing(gw: Gateway, envelope: Envelope[types.TypingV1]) -> None:
    room_id, user_id = envelope.body.room_id, envelope.body.user_id
    frame = types.WsServerTypingV1(type="typing", room_id=room_id, user_id=user_id)
    gw.deliver(_others_in_room(gw, room_id, user_id), encode_frame(frame))


def _presence_truncated_frame(limit: int) -> str:
    return encode_frame(types.WsServerPresenceTruncatedV1(type="presence.truncated", limit=limit))


async def on_presence_changed(gw: Gateway, envelope: Envelope[types.PresenceChangedV1]) -> None:
    """To the sockets that listed the user and the `all` sockets whose cap admits the user
    (domain/presence.py); `all` sockets past their cap hear `presence.truncated` once."""
    body = envelope.body
    fanout = gw.subscriptions.changed(body.user_id)
    for truncation in fanout.truncations:
        gw.deliver(truncation.connection_ids, _presence_truncated_frame(truncation.limit))
    if not fanout.forward:
        return
    frame = types.WsServerPresenceV1(
        type="presence", user_id=body.user_id, status=body.status, last_seen_at=body.last_seen_at
    )
    gw.deliver(fanout.forward, encode_frame(frame))


EVENT_HANDLERS: dict[str, Callable[[Gateway, Envelope[Any]], Awaitable[None]]] = {
    names.MESSAGE_CREATED_V1: on_message_created,
    names.MESSAGE_ACCEPTED_V1: on_message_accepted,
    names.MESSAGE_REJECTED_V1: on_message_rejected,
    names.MEMBER_JOINED_V1: on_member_joined,
    names.MEMBER_LEFT_V1: on_member_left,
    names.ROOM_JOINED_V1: on_room_joined,
    names.ROOM_LEFT_V1: on_room_left,
    names.READ_V1: on_read,
    names.ROOM_UPDATED_V1: on_room_updated,
    names.TYPING_V1: on_typing,
    names.PRESENCE_CHANGED_V1: on_presence_changed,
}


def handlers(gw: Gateway) -> dict[str, Handler]:
    """The handler table of the gateway queue, bound to this process's gateway."""
    return {type_name: partial(fn, gw) for type_name, fn in EVENT_HANDLERS.items()}
