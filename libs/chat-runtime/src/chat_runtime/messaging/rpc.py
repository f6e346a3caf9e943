"""Request/reply over RabbitMQ direct reply-to (`amq.rabbitmq.reply-to`)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiormq
import orjson
from aio_pika.abc import AbstractChannel

from chat_runtime.logging import correlation_id_var, get_logger
from chat_runtime.messaging.envelope import Envelope, PublishError, RequestTimeout
from chat_runtime.messaging.topology import DIRECT_REPLY_TO

if TYPE_CHECKING:
    from chat_runtime.messaging.broker import Broker
    from chat_runtime.messaging.consumer import ConsumerHandle

log = get_logger("chat_runtime.rpc")

Responder = Callable[[dict[str, Any]], Awaitable[tuple[str, dict[str, Any]]]]


class RpcClient:
    """One channel per broker that consumes the direct reply-to pseudo-queue (no_ack) and
    publishes requests on the same channel, as RabbitMQ requires."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._channel: AbstractChannel | None = None
        self._underlay: aiormq.abc.AbstractChannel | None = None
        self._pending: dict[str, asyncio.Future[tuple[str, dict[str, Any]]]] = {}
        self._lock = asyncio.Lock()

    def reset(self) -> None:
        # After a reconnect the pseudo-queue consumer is gone; set it up again on next request.
        self._underlay = None

    async def close(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RequestTimeout("broker closed"))
        self._pending.clear()
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
        self._channel = None
        self._underlay = None

    async def _ready_channel(self) -> aiormq.abc.AbstractChannel:
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                self._channel = await self.broker.connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
                self._underlay = None
            underlay = await self._channel.get_underlay_channel()
            if self._underlay is not underlay or underlay.is_closed:
                # Consume before publishing: RabbitMQ refuses reply-to without a consumer.
                await underlay.basic_consume(DIRECT_REPLY_TO, self._on_reply, no_ack=True)
                self._underlay = underlay
            return underlay

    async def _on_reply(self, message: aiormq.abc.DeliveredMessage) -> None:
        props = message.header.properties
        future = self._pending.get(props.correlation_id or "")
        if future is None or future.done():
            return  # a late reply to a request that already timed out
        try:
            body = orjson.loads(message.body)
            if not isinstance(body, dict):
                raise ValueError("reply body is not a JSON object")
            self.broker.contracts.validate(props.message_type or "", body)
        except ValueError as exc:
            future.set_exception(exc)
            return
        future.set_result((props.message_type or "", body))

    async def request(
        self,
        queue: str,
        type_name: str,
        body: Mapping[str, Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - the documented API
    ) -> dict[str, Any]:
        self.broker.contracts.validate(type_name, dict(body))
        request_id = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[str, dict[str, Any]]] = loop.create_future()
        self._pending[request_id] = future
        try:
            async with asyncio.timeout(timeout):
                underlay = await self._ready_channel()
                message = self.broker.build_message(
                    type_name,
                    body,
                    persistent=False,
                    # Replies are matched by correlation_id, so it must be unique per request;
                    # the caller's correlation id travels in a header instead.
                    correlation_id=request_id,
                    message_id=request_id,
                    reply_to=DIRECT_REPLY_TO,
                    headers={"x-correlation-id": correlation_id_var.get() or request_id},
                    expiration=timeout,  # a request nobody takes in time is dropped
                )
                try:
                    await underlay.basic_publish(
                        message.body,
                        exchange="",
                        routing_key=queue,
                        properties=message.properties,
                        mandatory=True,
                    )
                except aiormq.exceptions.PublishError as exc:
                    raise RequestTimeout(f"no queue {queue!r} to answer {type_name}") from exc
                except aiormq.exceptions.DeliveryError as exc:
                    raise PublishError(f"broker refused {type_name}") from exc
                _reply_type, reply = await future
                return reply
        except TimeoutError as exc:
            raise RequestTimeout(f"no reply to {type_name} from {queue!r} in {timeout}s") from exc
        except (aiormq.exceptions.AMQPError, ConnectionError) as exc:
            raise RequestTimeout(f"broker unavailable for {type_name}: {exc!r}") from exc
        finally:
            self._pending.pop(request_id, None)


async def serve(
    broker: Broker,
    queue: str,
    type_name: str,
    responder: Responder,
    *,
    prefetch: int = 20,
) -> ConsumerHandle:
    """Answer requests of `type_name` on `queue`; the reply keeps the request's correlation_id."""

    async def handle(envelope: Envelope) -> None:
        if not envelope.reply_to:
            log.warning("request_without_reply_to", type_name=type_name)
            return
        try:
            reply_type, reply_body = await responder(envelope.body)
            broker.contracts.validate(reply_type, reply_body)
        except Exception:
            # No retry for requests: the caller is waiting seconds at most and answers
            # `unavailable` on its timeout; requeueing would only spin on a classic queue.
            log.exception("request_failed_dropped", type_name=type_name)
            return
        message = broker.build_message(
            reply_type,
            reply_body,
            persistent=False,
            correlation_id=envelope.correlation_id,
        )
        try:
            # Not mandatory: a requester that gave up has no reply-to consumer any more.
            await broker.publish_message("", envelope.reply_to, message, mandatory=False)
        except PublishError:
            log.warning("reply_not_published", type_name=reply_type)

    return await broker.consume(queue, {type_name: handle}, prefetch=prefetch)
