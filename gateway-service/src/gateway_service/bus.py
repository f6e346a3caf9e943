"""The gateway's broker side: `AmqpGatewayBus` declares the exclusive queue
`gateway.<gateway_id>` (the host consumes it, events.py says what each event does), binds it to
the rooms and users this process serves, publishes commands and events, and asks message-service
for memberships."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
from aio_pika.abc import AbstractChannel, AbstractQueue
from chat_contracts import names, types
from chat_runtime.logging import get_logger
from chat_runtime.messaging import Broker, OutgoingMessage, PublishError, RequestTimeout
from chat_runtime.messaging.topology import declare_exclusive_queue
from chat_runtime.metrics import sent_at_header

from gateway_service.ports import Unavailable

log = get_logger(__name__)

# Bound once per gateway queue, whoever is connected.
FIXED_KEYS = (names.PRESENCE_CHANGED_V1, names.AUTH_SESSION_REVOKED_V1)


class AmqpGatewayBus:
    def __init__(self, broker: Broker, *, gateway_id: str) -> None:
        self.broker = broker
        self.queue_name = names.gateway_queue(gateway_id)
        self._queue: AbstractQueue | None = None

    async def declare(self, channel: AbstractChannel) -> AbstractQueue:
        """Declare the queue with its fixed bindings (the host calls this before consuming)."""
        self._queue = await declare_exclusive_queue(
            channel,
            self.queue_name,
            bindings=[(names.EXCHANGE_EVENTS, key) for key in FIXED_KEYS],
        )
        return self._queue

    def _require_queue(self) -> AbstractQueue:
        if self._queue is None:
            raise Unavailable("the gateway queue is not declared yet")
        return self._queue

    async def bind(self, key: str) -> None:
        # aio-pika awaits Queue.BindOk, so this returns only once the binding exists.
        await self._require_queue().bind(names.EXCHANGE_EVENTS, routing_key=key)

    async def unbind(self, key: str) -> None:
        await self._require_queue().unbind(names.EXCHANGE_EVENTS, routing_key=key)

    async def redeclare(self, keys: Sequence[str]) -> None:
        # The exclusive queue died with the old connection; the robust channel usually restores
        # it, but the registry is the truth, so declare and bind everything it needs again.
        await self.declare(self.broker.channel)
        for key in keys:
            await self.bind(key)

    async def publish_command(
        self,
        routing_key: str,
        body: msgspec.Struct,
        *,
        extra_fields: Mapping[str, msgspec.Raw] | None = None,
    ) -> None:
        # x-chat-sent-at: message-service measures publish -> commit latency from it.
        message = OutgoingMessage.of(
            routing_key, body, extra_fields=extra_fields, headers=sent_at_header()
        )
        await self._publish(names.EXCHANGE_COMMANDS, message, mandatory=True)

    async def publish_event(
        self, routing_key: str, body: msgspec.Struct, *, transient: bool = False
    ) -> None:
        message = OutgoingMessage.of(routing_key, body, persistent=not transient)
        await self._publish(names.EXCHANGE_EVENTS, message, confirm=not transient)

    async def _publish(
        self,
        exchange: str,
        message: OutgoingMessage,
        *,
        mandatory: bool = False,
        confirm: bool = True,
    ) -> None:
        (failure,) = await self.broker.publish(
            exchange, message, mandatory=mandatory, confirm=confirm
        )
        if failure is not None:
            raise Unavailable(str(failure)) from failure

    async def membership(self, user_id: str, timeout_s: float) -> list[str]:
        try:
            reply = await self.broker.request(
                names.MESSAGE_QUERY_QUEUE,
                types.MembershipQueryV1(user_id=user_id),
                reply_type=types.MembershipReplyV1,
                timeout=timeout_s,
            )
        # ValueError: a reply that breaks its contract; RuntimeError: not connected yet.
        except (RequestTimeout, PublishError, ValueError, RuntimeError) as exc:
            raise Unavailable(f"membership query failed: {exc!r}") from exc
        return reply.room_ids
