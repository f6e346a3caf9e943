"""The broker connection: confirmed publishing, consumers, request/reply, reconnect hooks."""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import aio_pika
import aiormq
import orjson
from aio_pika.abc import (
    AbstractExchange,
    AbstractRobustChannel,
    AbstractRobustConnection,
    DeliveryMode,
)
from pamqp import commands as spec

from chat_runtime.logging import correlation_id_var, get_logger
from chat_runtime.messaging.envelope import (
    BatchHandler,
    ContractRegistry,
    Handler,
    PublishError,
    default_contracts,
)
from chat_runtime.tracing import inject_traceparent, start_producer_span

if TYPE_CHECKING:
    from chat_runtime.messaging.consumer import ConsumerHandle

log = get_logger("chat_runtime.broker")

ReconnectCallback = Callable[[], Awaitable[None]]


def shard_of(room_id: str | UUID, shards: int) -> int:
    """CRC-32 of the room id's 16 bytes modulo the shard count (same in every service)."""
    uid = room_id if isinstance(room_id, UUID) else UUID(str(room_id))
    return zlib.crc32(uid.bytes) % shards


def encode_body(body: Mapping[str, Any]) -> bytes:
    return orjson.dumps(body)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message for `Broker.publish_many`; fields as the keyword arguments of `publish`."""

    routing_key: str
    type_name: str
    body: Mapping[str, Any]
    message_id: str | None = None
    correlation_id: str | None = None
    headers: Mapping[str, Any] | None = None
    persistent: bool = True


def _publish_failure(
    task: asyncio.Future[Any], exchange: str, routing_key: str
) -> PublishError | None:
    """What became of one `basic_publish(wait=False)`: None when the broker confirmed it."""
    if task.cancelled():
        return PublishError("no confirmation from the broker in time")
    exc = task.exception()
    if exc is None:
        result = task.result()
        if result is None or isinstance(result, spec.Basic.Ack):
            return None
        return PublishError(f"broker refused the message ({result!r})")
    if isinstance(exc, aiormq.exceptions.PublishError):
        return PublishError(f"unroutable: nothing bound to {exchange!r} with key {routing_key!r}")
    if isinstance(exc, aiormq.exceptions.DeliveryError):
        return PublishError(f"broker refused the message ({exc.frame!r})")
    return PublishError(f"broker unavailable: {exc!r}")


class Broker:
    def __init__(
        self,
        url: str,
        *,
        service: str,
        connection_name: str | None = None,
        publish_timeout: float = 10.0,
        reconnect_interval: float = 2.0,
        contracts: ContractRegistry | None = None,
    ) -> None:
        self.reconnect_interval = reconnect_interval
        self.url = url
        self.service = service
        self.connection_name = connection_name or service
        self.publish_timeout = publish_timeout
        self.contracts = contracts or default_contracts
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._fast_channel: AbstractRobustChannel | None = None
        self._exchanges: dict[tuple[bool, str], AbstractExchange] = {}
        self._reconnect_callbacks: list[ReconnectCallback] = []
        self._consumers: list[ConsumerHandle] = []
        self._rpc: Any = None

    # --- lifecycle -----------------------------------------------------------------------

    async def connect(self, *, retry_for_s: float = 30.0) -> None:
        """Connect (retrying with backoff for up to `retry_for_s`, so a service may start while
        RabbitMQ is still coming up); afterwards the robust connection reconnects by itself."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + retry_for_s
        delay = 0.2
        while True:
            try:
                self._connection = await aio_pika.connect_robust(
                    self.url,
                    client_properties={"connection_name": self.connection_name},
                    reconnect_interval=self.reconnect_interval,
                )
                break
            except (ConnectionError, OSError, aiormq.exceptions.AMQPConnectionError) as exc:
                if loop.time() + delay > deadline:
                    raise
                log.warning("broker_connect_retrying", delay_s=delay, error=repr(exc)[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._connection.reconnect_callbacks.add(self._on_reconnected)
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        # Transient messages (typing) skip confirms: losing one is by design.
        self._fast_channel = await self._connection.channel(publisher_confirms=False)

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.cancel()
        self._consumers.clear()
        if self._rpc is not None:
            await self._rpc.close()
            self._rpc = None
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._channel = None
        self._fast_channel = None
        self._exchanges.clear()

    def is_ready(self) -> bool:
        conn = self._connection
        return (
            conn is not None
            and not conn.is_closed
            and conn.connected.is_set()  # cleared while the robust connection reconnects
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def ready_check(self) -> bool:
        """For `app.state.readiness.add("broker", broker.ready_check)`."""
        return self.is_ready()

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("Broker.connect() has not been called")
        return self._connection

    @property
    def channel(self) -> AbstractRobustChannel:
        """The confirm-mode channel (use it for declarations, e.g. topology)."""
        if self._channel is None:
            raise RuntimeError("Broker.connect() has not been called")
        return self._channel

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        self._reconnect_callbacks.append(callback)

    async def _on_reconnected(self, *_: Any) -> None:
        log.warning("broker_reconnected")
        if self._rpc is not None:
            self._rpc.reset()
        for callback in list(self._reconnect_callbacks):
            try:
                await callback()
            except Exception:
                log.exception("reconnect_callback_failed")

    # --- publishing ----------------------------------------------------------------------

    def build_message(
        self,
        type_name: str,
        body: Mapping[str, Any],
        *,
        persistent: bool = True,
        correlation_id: str | None = None,
        message_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
        reply_to: str | None = None,
        expiration: float | None = None,
    ) -> aio_pika.Message:
        all_headers: dict[str, Any] = dict(headers or {})
        if "traceparent" not in all_headers:
            inject_traceparent(all_headers)
        return aio_pika.Message(
            body=encode_body(body),
            content_type="application/json",
            type=type_name,
            message_id=message_id or str(uuid.uuid4()),
            correlation_id=correlation_id or correlation_id_var.get() or str(uuid.uuid4()),
            timestamp=datetime.now(UTC),
            headers=all_headers,
            delivery_mode=DeliveryMode.PERSISTENT if persistent else DeliveryMode.NOT_PERSISTENT,
            app_id=self.service,
            reply_to=reply_to,
            expiration=expiration,
        )

    async def _exchange(self, name: str, confirm: bool) -> AbstractExchange:
        channel = self.channel if confirm else self._fast_channel
        if channel is None:
            raise RuntimeError("Broker.connect() has not been called")
        if name == "":
            return channel.default_exchange
        key = (confirm, name)
        exchange = self._exchanges.get(key)
        if exchange is None:
            exchange = await channel.get_exchange(name, ensure=False)
            self._exchanges[key] = exchange
        return exchange

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        type_name: str,
        body: Mapping[str, Any],
        *,
        persistent: bool = True,
        mandatory: bool = False,
        confirm: bool = True,
        correlation_id: str | None = None,
        message_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
        reply_to: str | None = None,
        validate: bool = True,
    ) -> None:
        """Publish one message; returns only after the broker confirmed it (when confirm=True).

        Raises `chat_contracts.ContractError` (a ValueError) for a body that breaks its schema and
        `PublishError` when the broker nacks, returns (mandatory) or does not answer in time.
        `validate=False` skips the schema check for bodies already validated (outbox rows are
        checked when written)."""
        if validate:
            self.contracts.validate(type_name, dict(body))
        all_headers: dict[str, Any] = dict(headers or {})
        # Outbox rows carry the traceparent of the transaction that wrote them; the publish span
        # continues that trace.
        with start_producer_span(f"{type_name} publish", all_headers):
            message = self.build_message(
                type_name,
                body,
                persistent=persistent,
                correlation_id=correlation_id,
                message_id=message_id,
                headers=all_headers,
                reply_to=reply_to,
            )
            await self.publish_message(
                exchange, routing_key, message, mandatory=mandatory, confirm=confirm
            )

    async def publish_message(
        self,
        exchange: str,
        routing_key: str,
        message: aio_pika.Message,
        *,
        mandatory: bool = False,
        confirm: bool = True,
    ) -> None:
        """Publish a prepared message without contract validation (replies, tests)."""
        try:
            target = await self._exchange(exchange, confirm)
            await target.publish(
                message,
                routing_key,
                mandatory=mandatory and confirm,
                timeout=self.publish_timeout,
            )
        except aio_pika.exceptions.PublishError as exc:
            raise PublishError(
                f"unroutable: nothing bound to {exchange!r} with key {routing_key!r}"
            ) from exc
        except aio_pika.exceptions.DeliveryError as exc:
            raise PublishError(f"broker refused the message ({exc.frame!r})") from exc
        except TimeoutError as exc:
            raise PublishError("no confirmation from the broker in time") from exc
        except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            raise PublishError(f"broker unavailable: {exc!r}") from exc

    async def publish_many(
        self,
        exchange: str,
        messages: Sequence[OutgoingMessage],
        *,
        mandatory: bool = False,
        validate: bool = True,
    ) -> list[PublishError | None]:
        """Publish messages in order with confirms, all in flight at once; per message, None
        when the broker confirmed it, else the PublishError it got (nack, return, timeout, lost
        channel). Nothing is raised for a broker failure: the caller decides what a partial
        result means (the outbox relay keeps the unconfirmed suffix).

        Below aio-pika's `Exchange.publish` on purpose: that builds a Message object, opens a
        deadline and waits for the socket to drain per message, and was the largest share of the
        relay's and the gateway's CPU. Here the batch has one producer span and one deadline and
        each frame is queued without a drain wait; every message still carries its own
        message_id, correlation_id, timestamp, traceparent (its own when it has one, as outbox
        rows do, else the batch's) and delivery mode. Raises ContractError (a ValueError) before
        publishing anything when `validate` and a body breaks its schema."""
        if not messages:
            return []
        if validate:
            for message in messages:
                self.contracts.validate(message.type_name, dict(message.body))
        batch_headers: dict[str, Any] = {}
        with start_producer_span(f"{messages[0].type_name} publish", batch_headers) as span:
            if len(messages) > 1:
                span.set_attribute("messaging.batch.message_count", len(messages))
            try:
                channel = cast(aiormq.Channel, await self.channel.get_underlay_channel())
            except Exception as exc:
                failure = PublishError(f"broker unavailable: {exc!r}")
                return [failure for _ in messages]
            now = datetime.now(UTC)
            default_correlation = correlation_id_var.get()
            tasks = []
            for message in messages:
                headers = dict(message.headers or {})
                if "traceparent" not in headers:
                    headers.update(batch_headers)
                properties = spec.Basic.Properties(
                    content_type="application/json",
                    message_type=message.type_name,
                    message_id=message.message_id or str(uuid.uuid4()),
                    correlation_id=message.correlation_id
                    or default_correlation
                    or str(uuid.uuid4()),
                    timestamp=now,
                    headers=headers,
                    delivery_mode=2 if message.persistent else 1,
                    app_id=self.service,
                )
                # Tasks start in creation order and take the channel's FIFO lock without an
                # earlier suspension, so the broker receives the messages in list order.
                tasks.append(
                    asyncio.ensure_future(
                        channel.basic_publish(
                            encode_body(message.body),
                            exchange=exchange,
                            routing_key=message.routing_key,
                            properties=properties,
                            mandatory=mandatory,
                            wait=False,
                        )
                    )
                )
            _, pending = await asyncio.wait(tasks, timeout=self.publish_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        return [
            _publish_failure(task, exchange, message.routing_key)
            for task, message in zip(tasks, messages, strict=True)
        ]

    # --- consuming and request/reply ---------------------------------------------------

    async def consume(
        self,
        queue: str | Sequence[str],
        handlers: Mapping[str, Handler] | Mapping[str, BatchHandler],
        *,
        prefetch: int = 50,
        batch: bool = False,
        max_batch: int = 100,
        max_wait_s: float = 0.005,
        no_ack: bool = False,
    ) -> ConsumerHandle:
        """Consume one queue, or several into one inbox (one batch may span them); see
        `ConsumerHandle`. `no_ack` only for exclusive queues, whose messages die with us anyway."""
        from chat_runtime.messaging.consumer import ConsumerHandle

        handle = ConsumerHandle(
            self,
            queue,
            handlers,
            prefetch=prefetch,
            batch=batch,
            max_batch=max_batch,
            max_wait_s=max_wait_s,
            no_ack=no_ack,
        )
        await handle.start()
        self._consumers.append(handle)
        return handle

    def _forget_consumer(self, handle: ConsumerHandle) -> None:
        if handle in self._consumers:
            self._consumers.remove(handle)

    async def request(
        self,
        queue: str,
        type_name: str,
        body: Mapping[str, Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - the documented API
    ) -> dict[str, Any]:
        from chat_runtime.messaging.rpc import RpcClient

        if self._rpc is None:
            self._rpc = RpcClient(self)
        result: dict[str, Any] = await self._rpc.request(queue, type_name, body, timeout=timeout)
        return result

    async def serve(
        self,
        queue: str,
        type_name: str,
        responder: Callable[[dict[str, Any]], Awaitable[tuple[str, dict[str, Any]]]],
        *,
        prefetch: int = 20,
    ) -> ConsumerHandle:
        from chat_runtime.messaging.rpc import serve

        return await serve(self, queue, type_name, responder, prefetch=prefetch)
