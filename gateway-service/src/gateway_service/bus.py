"""The gateway's broker side and the events it consumes.

`AmqpGatewayBus` owns the exclusive queue `gateway.<gateway_id>` and its bindings, publishes
commands and events, and asks message-service for memberships. The `on_*` functions below turn
events into frames for local sockets; each encodes its frame once for all recipients.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aio_pika.abc import AbstractQueue
from chat_runtime.logging import get_logger
from chat_runtime.messaging import (
    EXCHANGE_COMMANDS,
    EXCHANGE_EVENTS,
    Broker,
    Envelope,
    OutgoingMessage,
    PublishError,
    RequestTimeout,
    dispatch_by_type,
)
from chat_runtime.messaging.topology import declare_exclusive_queue, declare_topology

from gateway_service.domain.frames import encode
from gateway_service.ports import EventHandler, Unavailable

if TYPE_CHECKING:
    from gateway_service.hub import Gateway

log = get_logger(__name__)

MEMBERSHIP_QUEUE = "message-service.query"
# Bound once per gateway queue, whoever is connected.
FIXED_KEYS = ("presence.changed.v1", "auth.session.revoked.v1")


class AmqpGatewayBus:
    def __init__(self, broker: Broker, *, gateway_id: str, send_shards: int) -> None:
        self.broker = broker
        self.queue_name = f"gateway.{gateway_id}"
        self.send_shards = send_shards
        self._queue: AbstractQueue | None = None
        self._consumer: Any = None

    async def start(self, handlers: Mapping[str, EventHandler]) -> None:
        # Declaring the shared topology is idempotent; it lets the gateway start before
        # message-service without its mandatory commands bouncing as unroutable.
        await declare_topology(self.broker.channel, self.send_shards)
        await self._declare()
        by_type = {name: _body_handler(handler) for name, handler in handlers.items()}
        # no_ack: the queue is exclusive, so its messages die with this process whether acked
        # or not (a client catches up with `after_seq`); an ack would protect nothing and cost
        # a frame per event each way. Batches of whatever has arrived (no waiting): one consumer
        # span per batch instead of one per event, which was a tenth of the gateway's CPU.
        self._consumer = await self.broker.consume(
            self.queue_name,
            {"*": dispatch_by_type(by_type)},
            prefetch=500,
            no_ack=True,
            batch=True,
            max_batch=500,
            max_wait_s=0.0,
        )

    async def _declare(self) -> None:
        self._queue = await declare_exclusive_queue(
            self.broker.channel,
            self.queue_name,
            bindings=[(EXCHANGE_EVENTS, key) for key in FIXED_KEYS],
        )

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()
            self._consumer = None

    def is_ready(self) -> bool:
        running = self._consumer is not None and bool(getattr(self._consumer, "running", True))
        return self.broker.is_ready() and running

    def _require_queue(self) -> AbstractQueue:
        if self._queue is None:
            raise Unavailable("the gateway queue is not declared yet")
        return self._queue

    async def bind(self, key: str) -> None:
        # aio-pika awaits Queue.BindOk, so this returns only once the binding exists.
        await self._require_queue().bind(EXCHANGE_EVENTS, routing_key=key)

    async def unbind(self, key: str) -> None:
        await self._require_queue().unbind(EXCHANGE_EVENTS, routing_key=key)

    async def redeclare(self, keys: Sequence[str]) -> None:
        # The exclusive queue died with the old connection; the robust channel usually restores
        # it, but the registry is the truth, so declare and bind everything it needs again.
        await self._declare()
        for key in keys:
            await self.bind(key)

    async def publish_command(
        self, routing_key: str, type_name: str, body: Mapping[str, Any]
    ) -> None:
        # publish_many even for one: it skips aio-pika's per-message Message object, deadline
        # and drain wait, which were a fifth of the gateway's CPU under load.
        try:
            (failure,) = await self.broker.publish_many(
                EXCHANGE_COMMANDS,
                [OutgoingMessage(routing_key, type_name, body)],
                mandatory=True,
            )
        except ValueError as exc:  # ContractError: a gateway bug, never the client's fault
            log.error("command_breaks_contract", type_name=type_name, error=str(exc)[:300])
            raise Unavailable("command refused by its contract") from exc
        if failure is not None:
            raise Unavailable(str(failure)) from failure

    async def publish_event(
        self, routing_key: str, type_name: str, body: Mapping[str, Any], *, transient: bool = False
    ) -> None:
        try:
            await self.broker.publish(
                EXCHANGE_EVENTS,
                routing_key,
                type_name,
                body,
                persistent=not transient,
                confirm=not transient,
            )
        except PublishError as exc:
            raise Unavailable(str(exc)) from exc
        except ValueError as exc:  # ContractError: a gateway bug, never the client's fault
            log.error("event_breaks_contract", type_name=type_name, error=str(exc)[:300])
            raise Unavailable("event refused by its contract") from exc

    async def publish_heartbeat(self, body: Mapping[str, Any]) -> None:
        # Not validated here: jsonschema over 10 000 entries costs ~110 ms, about 1 % of a core
        # every 10 s on its own. `Gateway.heartbeat_body` is checked against the contract in
        # the unit tests, and presence-service validates what it consumes.
        type_name = "presence.gateway.heartbeat.v1"
        message = self.broker.build_message(type_name, body, persistent=True)
        try:
            await self.broker.publish_message(EXCHANGE_EVENTS, type_name, message, confirm=True)
        except PublishError as exc:
            raise Unavailable(str(exc)) from exc

    async def membership(self, user_id: str, timeout_s: float) -> list[str]:
        try:
            reply = await self.broker.request(
                MEMBERSHIP_QUEUE, "membership.query.v1", {"user_id": user_id}, timeout=timeout_s
            )
        except (RequestTimeout, PublishError) as exc:
            raise Unavailable(f"membership query failed: {exc!r}") from exc
        return [str(r) for r in reply.get("room_ids", [])]

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        self.broker.on_reconnect(callback)


def _body_handler(handler: EventHandler) -> Callable[[Envelope], Awaitable[None]]:
    async def run(envelope: Envelope) -> None:
        await handler(envelope.body)

    return run


# --- event handlers (plain functions of the gateway and the event body) -------------------------


def _guarded(
    name: str, fn: Callable[[Gateway, dict[str, Any]], Awaitable[None]], gw: Gateway
) -> EventHandler:
    async def run(body: dict[str, Any]) -> None:
        # Never raise into the consumer: a requeue on our classic queue would loop forever.
        try:
            await fn(gw, body)
        except Exception:
            log.exception("event_handler_failed", type_name=name)

    return run


def _ack_frame(client_msg_id: str, message: dict[str, Any]) -> str:
    return encode({"type": "message.ack", "client_msg_id": client_msg_id, "message": message})


def _ack_pending(gw: Gateway, message: dict[str, Any], client_msg_id: str | None) -> None:
    sender = str(message.get("sender_id"))
    if not client_msg_id:
        return
    connection_id = gw.pending.pop(sender, client_msg_id)
    if connection_id is not None:
        gw.deliver([connection_id], _ack_frame(client_msg_id, message))


async def on_message_created(gw: Gateway, body: dict[str, Any]) -> None:
    message = body["message"]
    _ack_pending(gw, message, message.get("client_msg_id"))
    frame = encode({"type": "message.new", "message": message})
    gw.deliver(gw.registry.room_connections(str(message["room_id"])), frame)


async def on_message_accepted(gw: Gateway, body: dict[str, Any]) -> None:
    _ack_pending(gw, body["message"], body.get("client_msg_id"))


async def on_message_rejected(gw: Gateway, body: dict[str, Any]) -> None:
    sender = str(body["sender_id"])
    client_msg_id = str(body["client_msg_id"])
    frame = encode(
        {
            "type": "error",
            "code": body["code"],
            "message": body.get("message") or "The message was refused.",
            "ref": client_msg_id,
        }
    )
    connection_id = gw.pending.pop(sender, client_msg_id)
    # Without a waiting connection (it reconnected meanwhile) every tab of the sender hears it.
    targets = [connection_id] if connection_id else gw.registry.connections_of_user(sender)
    gw.deliver(targets, frame)


def _room_frame_except(gw: Gateway, room_id: str, frame: str, excluded_user: str) -> None:
    excluded = set(gw.registry.connections_of_user(excluded_user))
    gw.deliver((c for c in gw.registry.room_connections(room_id) if c not in excluded), frame)


async def on_member_joined(gw: Gateway, body: dict[str, Any]) -> None:
    room_id, user_id = str(body["room_id"]), str(body["user_id"])
    frame = encode({"type": "room.member_joined", "room_id": room_id, "user_id": user_id})
    # The joining user's own sockets hear it through `room.joined.v1` (user scope).
    _room_frame_except(gw, room_id, frame, user_id)


async def on_member_left(gw: Gateway, body: dict[str, Any]) -> None:
    room_id, user_id = str(body["room_id"]), str(body["user_id"])
    frame = encode({"type": "room.member_left", "room_id": room_id, "user_id": user_id})
    _room_frame_except(gw, room_id, frame, user_id)


async def on_room_joined(gw: Gateway, body: dict[str, Any]) -> None:
    user_id, room_id = str(body["user_id"]), str(body["room_id"])
    if not gw.registry.connections_of_user(user_id):
        return
    await gw.join_room(user_id, room_id)  # bound before the client hears about it
    frame = encode({"type": "room.member_joined", "room_id": room_id, "user_id": user_id})
    gw.deliver(gw.registry.connections_of_user(user_id), frame)


async def on_room_left(gw: Gateway, body: dict[str, Any]) -> None:
    user_id, room_id = str(body["user_id"]), str(body["room_id"])
    if not gw.registry.connections_of_user(user_id):
        return
    gw.leave_room(user_id, room_id)
    frame = encode({"type": "room.member_left", "room_id": room_id, "user_id": user_id})
    gw.deliver(gw.registry.connections_of_user(user_id), frame)


async def on_read(gw: Gateway, body: dict[str, Any]) -> None:
    room_id = str(body["room_id"])
    frame = encode(
        {"type": "read", "room_id": room_id, "user_id": str(body["user_id"]), "seq": body["seq"]}
    )
    gw.deliver(gw.registry.room_connections(room_id), frame)


async def on_typing(gw: Gateway, body: dict[str, Any]) -> None:
    room_id, user_id = str(body["room_id"]), str(body["user_id"])
    frame = encode({"type": "typing", "room_id": room_id, "user_id": user_id})
    _room_frame_except(gw, room_id, frame, user_id)


async def on_presence_changed(gw: Gateway, body: dict[str, Any]) -> None:
    user_id = str(body["user_id"])
    subscribers = gw.subscriptions.subscribers(user_id)
    if not subscribers:
        return
    frame = encode(
        {
            "type": "presence",
            "user_id": user_id,
            "status": body["status"],
            "last_seen_at": body.get("last_seen_at"),
        }
    )
    gw.deliver(subscribers, frame)


async def on_session_revoked(gw: Gateway, body: dict[str, Any]) -> None:
    closed = gw.close_session_id(str(body["session_id"]), 4401, "session revoked")
    if closed:
        log.info("revoked_session_closed", session_id=body["session_id"], sockets=closed)


EVENT_HANDLERS: dict[str, Callable[[Gateway, dict[str, Any]], Awaitable[None]]] = {
    "message.created.v1": on_message_created,
    "message.accepted.v1": on_message_accepted,
    "message.rejected.v1": on_message_rejected,
    "member_joined.v1": on_member_joined,
    "member_left.v1": on_member_left,
    "room.joined.v1": on_room_joined,
    "room.left.v1": on_room_left,
    "read.v1": on_read,
    "typing.v1": on_typing,
    "presence.changed.v1": on_presence_changed,
    "auth.session.revoked.v1": on_session_revoked,
}


def event_handlers(
    gw: Gateway, extra: Mapping[str, Callable[[dict[str, Any]], Awaitable[None]]] | None = None
) -> dict[str, EventHandler]:
    """The handler table for the gateway queue; `extra[type]` runs before the gateway's own."""
    table: dict[str, EventHandler] = {}
    for name, fn in EVENT_HANDLERS.items():
        pre = (extra or {}).get(name)
        if pre is not None:
            fn = functools.partial(_chained, pre, fn)
        table[name] = _guarded(name, fn, gw)
    return table


async def _chained(
    pre: Callable[[dict[str, Any]], Awaitable[None]],
    fn: Callable[[Gateway, dict[str, Any]], Awaitable[None]],
    gw: Gateway,
    body: dict[str, Any],
) -> None:
    await pre(body)
    await fn(gw, body)
