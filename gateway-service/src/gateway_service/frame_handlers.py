"""What each client frame does once the socket is signed in: one function per frame struct,
looked up in `FRAME_HANDLERS` by the parsed frame's class.

Each gets the gateway, the session and the frame, and answers the client through the session's
output when it has something to say (errors, `pong`). Ids from the client are matched in their
canonical lower-case form (the contract accepts either case).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from chat_contracts import names, types
from chat_runtime.features import ADDED_FIELDS, SendShape, send_refusal
from chat_runtime.messaging import shard_of

from gateway_service import authenticator
from gateway_service.domain import frames as f
from gateway_service.hub import Gateway
from gateway_service.metrics import count_frame_in
from gateway_service.ports import SessionPort, Unavailable

FrameHandler = Callable[[Gateway, SessionPort, Any], Awaitable[None]]
# The feature a thread's read position needs: the one a reply needs.
THREADS = ADDED_FIELDS["thread_root_id"]
# The feature `presence.subscribe {"all": true}` needs (api-v1.1 C).
ONLINE_NOW: types.KnownFeatureName = "online_now"


async def on_ping(gw: Gateway, session: SessionPort, frame: types.WsClientPingV1) -> None:
    await session.output.reply(f.PONG)


async def on_message_send(gw: Gateway, session: SessionPort, send: f.SendFrame) -> None:
    frame: types.WsClientMessageSendV1 = send.frame
    room_id = frame.room_id.lower()
    client_msg_id = frame.client_msg_id.lower()
    # An api-v1.1 addition whose feature is off (or not in this release) stops here, so a
    # message-service one release behind never sees it; what this release does not know at all
    # is forwarded, and the message-service of its release judges it.
    shape = SendShape.of(frame, unknown=send.unknown)
    refusal = send_refusal(shape, gw.settings.feature_switches, decides_unknown=False)
    if refusal is not None:
        session.output.send_error(refusal.code, refusal.detail, client_msg_id)
        return
    if not await _is_member(gw, session, room_id, client_msg_id):
        return
    # Recorded before publishing: the created event can beat the publisher confirm.
    gw.pending.add(session.user_id, client_msg_id, session.connection_id, gw.clock())
    command = types.MessageSendV1(
        client_msg_id=client_msg_id,
        room_id=room_id,
        sender_id=session.user_id,
        session_id=session.session_id,
        text=frame.text,
        gateway_id=gw.gateway_id,
        connection_id=session.connection_id,
        kind=frame.kind,
        target_id=frame.target_id,
        emoji=frame.emoji,
        added=frame.added,
        thread_root_id=frame.thread_root_id,
        attachments=frame.attachments,
    )
    try:
        await gw.bus.publish_command(
            names.send_routing_key(shard_of(room_id, gw.settings.send_shards)),
            command,
            extra_fields=send.unknown,
        )
    except Unavailable:
        gw.pending.pop(session.user_id, client_msg_id)
        session.output.send_error(
            "unavailable", "The message could not be sent; retry it.", client_msg_id
        )


async def on_typing(gw: Gateway, session: SessionPort, frame: types.WsClientTypingV1) -> None:
    room_id = frame.room_id.lower()
    if not gw.registry.is_member(session.user_id, room_id):
        return  # ignored silently (api-v1 §6)
    if not gw.typing_gate.allow(session.user_id, room_id, gw.monotonic()):
        count_frame_in("typing_dropped")
        return  # faster than the client interval of api-v1 §6: dropped silently
    # Transient by design: a lost typing signal does not matter, so no confirm.
    with contextlib.suppress(Unavailable):
        await gw.bus.publish_event(
            names.room_key(room_id, names.TYPING_V1),
            types.TypingV1(room_id=room_id, user_id=session.user_id),
            transient=True,
        )


async def on_read(gw: Gateway, session: SessionPort, frame: types.WsClientReadV1) -> None:
    """A room read position, or with `thread_root_id` a thread's (api-v1.1 B; feature
    `threads`): message-service checks the root, the gateway only the membership."""
    room_id = frame.room_id.lower()
    thread_root_id = frame.thread_root_id
    if isinstance(thread_root_id, str):
        refusal = gw.settings.feature_switches.refusal([THREADS])
        if refusal is not None:
            session.output.send_error(refusal.code, refusal.detail, frame.type)
            return
        thread_root_id = thread_root_id.lower()
    if not await _is_member(gw, session, room_id, frame.type):
        return
    try:
        await gw.bus.publish_command(
            names.read_routing_key(shard_of(room_id, gw.settings.send_shards)),
            types.RoomReadV1(
                room_id=room_id,
                user_id=session.user_id,
                seq=frame.seq,
                thread_root_id=thread_root_id,
            ),
        )
    except Unavailable:
        session.output.send_error(
            "unavailable", "The read position could not be saved.", frame.type
        )


async def on_presence_set(
    gw: Gateway, session: SessionPort, frame: types.WsClientPresenceSetV1
) -> None:
    session.status = frame.status
    await gw.presence.status_changed(session)


async def on_presence_subscribe(
    gw: Gateway, session: SessionPort, frame: types.WsClientPresenceSubscribeV1
) -> None:
    """A list of users, or with `all` every user (api-v1.1 C "Online now", capped at
    `presence_all_cap` users); either replaces the socket's previous subscription. A refused
    `all` leaves the previous one in place."""
    if frame.all is True:
        refusal = gw.settings.feature_switches.refusal([ONLINE_NOW])
        if refusal is not None:
            session.output.send_error(refusal.code, refusal.detail, frame.type)
            return
        gw.subscriptions.subscribe_all(session.connection_id, gw.settings.presence_all_cap)
        return
    # Without `all` (or `all: false`) a missing list is the empty one: nobody.
    user_ids = frame.user_ids if isinstance(frame.user_ids, list) else []
    gw.subscriptions.replace(session.connection_id, (u.lower() for u in user_ids))


async def on_auth_refresh(
    gw: Gateway, session: SessionPort, frame: types.WsClientAuthRefreshV1
) -> None:
    await authenticator.refresh(gw, session, frame)


async def on_auth(gw: Gateway, session: SessionPort, frame: types.WsClientAuthV1) -> None:
    session.output.send_error("bad_request", "This socket is already authenticated.", frame.type)


FRAME_HANDLERS: dict[type[f.ParsedFrame], FrameHandler] = {
    types.WsClientPingV1: on_ping,
    f.SendFrame: on_message_send,
    types.WsClientTypingV1: on_typing,
    types.WsClientReadV1: on_read,
    types.WsClientPresenceSetV1: on_presence_set,
    types.WsClientPresenceSubscribeV1: on_presence_subscribe,
    types.WsClientAuthRefreshV1: on_auth_refresh,
    types.WsClientAuthV1: on_auth,
}


async def _is_member(gw: Gateway, session: SessionPort, room_id: str, ref: str) -> bool:
    """Membership check for a frame; answers the client itself when the answer is no."""
    try:
        if await gw.confirm_membership(session.user_id, room_id):
            return True
    except Unavailable:
        session.output.send_error(
            "unavailable", "Room membership cannot be checked now; retry.", ref
        )
        return False
    session.output.send_error("not_a_member", "You are not a member of this room.", ref)
    return False
