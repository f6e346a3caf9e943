"""Request/reply over RabbitMQ direct reply-to (`amq.rabbitmq.reply-to`).

Takes the connection and a publish function, not the Broker, so nothing here imports it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiormq
import chat_contracts
import msgspec
from aio_pika.abc import AbstractChannel, AbstractConnection
from chat_contracts.names import DIRECT_REPLY_TO

from chat_runtime.logging import correlation_id_var, get_logger
from chat_runtime.messaging.envelope import ContractRegistry, Envelope, Handler
from chat_runtime.messaging.errors import PublishError, RequestTimeout
from chat_runtime.messaging.publishing import OutgoingMessage, PublishResult, message_properties

log = get_logger("chat_runtime.rpc")

ReplyT = TypeVar("ReplyT", bound=msgspec.Struct)

Respond = Callable[[Envelope[Any]], Awaitable[msgspec.Struct]]
Publish = Callable[[str, Sequence[OutgoingMessage]], Awaitable[PublishResult]]


class RpcClient:
    """One channel per broker that consumes the direct reply-to pseudo-queue (no_ack) and
    publishes requests on the same channel, as RabbitMQ requires."""

    def __init__(
        self,
        connection: AbstractConnection,
        contracts: ContractRegistry,
        *,
        app_id: str,
        user_id: str | None = None,
    ) -> None:
        self.connection = connection
        self.contracts = contracts
        self.app_id = app_id
        # The broker account, checked by RabbitMQ: a responder may answer only some askers.
        self.user_id = user_id
        self._channel: AbstractChannel | None = None
        self._underlay: aiormq.abc.AbstractChannel | None = None
        # request id -> (reply type name, future of the reply)
        self._pending: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self._lock = asyncio.Lock()

    def reset(self) -> None:
        # After a reconnect the pseudo-queue consumer is gone; set it up again on next request.
        self._underlay = None

    async def close(self) -> None:
        for _, future in self._pending.values():
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
                self._channel = await self.connection.channel(
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
        pending = self._pending.get(props.correlation_id or "")
        if pending is None or pending[1].done():
            return  # a late reply to a request that already timed out
        expected, future = pending
        if props.message_type != expected:
            future.set_exception(
                ValueError(f"reply of type {props.message_type!r}, expected {expected!r}")
            )
            return
        try:
            future.set_result(self.contracts.decode(expected, message.body))
        except ValueError as exc:  # ContractError and msgspec's errors are ValueErrors
            future.set_exception(exc)

    async def request(
        self,
        queue: str,
        body: msgspec.Struct,
        *,
        reply_type: type[ReplyT],
        timeout: float = 5.0,  # noqa: ASYNC109 - the documented API
    ) -> ReplyT:
        """Send `body` to `queue` and return the reply decoded (and validated) as `reply_type`.

        Raises RequestTimeout when no reply comes in time (also when the queue does not exist or
        the broker is down), ValueError when the reply breaks its contract."""
        request = OutgoingMessage.of(
            queue,
            body,
            persistent=False,
            # Replies are matched by correlation_id, so it must be unique per request; the
            # caller's correlation id travels in a header instead.
            correlation_id=(request_id := str(uuid.uuid4())),
            message_id=request_id,
            reply_to=DIRECT_REPLY_TO,
            headers={"x-correlation-id": correlation_id_var.get() or request_id},
        )
        future: asyncio.Future[ReplyT] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (chat_contracts.contract_of(reply_type), future)
        try:
            async with asyncio.timeout(timeout):
                underlay = await self._ready_channel()
                try:
                    await underlay.basic_publish(
                        request.body,
                        exchange="",
                        routing_key=queue,
                        # a request nobody takes in time is dropped
                        properties=message_properties(
                            request, app_id=self.app_id, expiration=timeout, user_id=self.user_id
                        ),
                        mandatory=True,
                    )
                except aiormq.exceptions.PublishError as exc:
                    raise RequestTimeout(
                        f"no queue {queue!r} to answer {request.type_name}"
                    ) from exc
                except aiormq.exceptions.DeliveryError as exc:
                    raise PublishError(f"broker refused {request.type_name}") from exc
                return await future
        except TimeoutError as exc:
            raise RequestTimeout(
                f"no reply to {request.type_name} from {queue!r} in {timeout}s"
            ) from exc
        except (aiormq.exceptions.AMQPError, ConnectionError) as exc:
            raise RequestTimeout(f"broker unavailable for {request.type_name}: {exc!r}") from exc
        finally:
            self._pending.pop(request_id, None)


def reply_handler(publish: Publish, respond: Respond) -> Handler:
    """The consumer handler that answers one request type: the reply (the struct `respond`
    returns) keeps the request's correlation_id and goes to its reply-to."""

    async def handle(envelope: Envelope[Any]) -> None:
        if not envelope.reply_to:
            log.warning("request_without_reply_to", type_name=envelope.type_name)
            return
        try:
            reply = OutgoingMessage.of(
                envelope.reply_to,
                await respond(envelope),
                persistent=False,
                correlation_id=envelope.correlation_id,
            )
        except Exception:
            # No retry for requests: the caller is waiting seconds at most and answers
            # `unavailable` on its timeout; requeueing would only spin on a classic queue.
            log.exception("request_failed_dropped", type_name=envelope.type_name)
            return
        # Not mandatory: a requester that gave up has no reply-to consumer any more.
        failure = (await publish("", [reply]))[0]
        if failure is not None:
            log.warning("reply_not_published", type_name=reply.type_name, error=str(failure))

    return handle
