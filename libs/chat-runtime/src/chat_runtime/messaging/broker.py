"""The broker connection: publishing, consumers, request/reply, reconnect hooks."""

from __future__ import annotations

import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit
from uuid import UUID

import aio_pika
import aiormq
import msgspec
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

from chat_runtime.logging import get_logger
from chat_runtime.messaging.consumer import ConsumerHandle
from chat_runtime.messaging.envelope import (
    BatchHandler,
    ContractRegistry,
    Handler,
    default_contracts,
)
from chat_runtime.messaging.errors import PublishError
from chat_runtime.messaging.publishing import OutgoingMessage, PublishResult, publish_frames
from chat_runtime.messaging.rpc import Respond, RpcClient, reply_handler
from chat_runtime.metrics import record_publish
from chat_runtime.retry import retrying
from chat_runtime.tracing import start_producer_span

log = get_logger("chat_runtime.broker")

ReconnectCallback = Callable[[], Awaitable[None]]
ReplyT = TypeVar("ReplyT", bound=msgspec.Struct)


def shard_of(room_id: str | UUID, shards: int) -> int:
    """CRC-32 of the room id's 16 bytes modulo the shard count (same in every service)."""
    uid = room_id if isinstance(room_id, UUID) else UUID(str(room_id))
    return zlib.crc32(uid.bytes) % shards


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
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.reconnect_interval = reconnect_interval
        # TLS (amqps:// URLs): the server's certificate is checked against this context's CAs
        # (CHAT_AMQP_CA_FILE); None leaves it to aio-pika (the system's CAs for amqps://).
        self.ssl_context = ssl_context
        self.url = url
        self.service = service
        self.connection_name = connection_name or service
        self.publish_timeout = publish_timeout
        self.contracts = contracts or default_contracts
        # Every message carries the broker account as its AMQP `user_id`, which RabbitMQ
        # checks against the connection's user: consumers may trust it (ADR 0015).
        self.user_id = unquote(urlsplit(url).username or "") or "guest"
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._fast_channel: AbstractRobustChannel | None = None
        self._reconnect_callbacks: list[ReconnectCallback] = []
        self._consumers: list[ConsumerHandle] = []
        self._rpc: RpcClient | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def connect(self, *, retry_for_s: float = 30.0) -> None:
        """Connect (retrying with backoff for up to `retry_for_s`, so a service may start while
        RabbitMQ is still coming up); afterwards the robust connection reconnects by itself."""
        async for attempt in retrying(
            "broker_connect_retrying",
            retry_on=(ConnectionError, OSError, aiormq.exceptions.AMQPConnectionError),
            give_up_after_s=retry_for_s,
        ):
            with attempt:
                connection = await aio_pika.connect_robust(
                    self.url,
                    client_properties={"connection_name": self.connection_name},
                    reconnect_interval=self.reconnect_interval,
                    ssl_context=self.ssl_context,
                )
        self._connection = connection
        connection.reconnect_callbacks.add(self._on_reconnected)
        self._channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        # Transient messages (typing) skip confirms: losing one is by design.
        self._fast_channel = await connection.channel(publisher_confirms=False)

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

    def is_ready(self) -> bool:
        conn = self._connection
        return (
            conn is not None
            and not conn.is_closed
            and conn.connected.is_set()  # cleared while the robust connection reconnects
            and self._channel is not None
            and not self._channel.is_closed
        )

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

    async def publish(
        self,
        exchange: str,
        messages: OutgoingMessage | Sequence[OutgoingMessage],
        *,
        mandatory: bool = False,
        confirm: bool = True,
    ) -> PublishResult:
        """Publish messages in order, all in flight at once, with one producer span and one
        deadline (`publish_timeout`) for them all; returns per message None when the broker
        took it (confirmed, with `confirm`), else its `PublishError` (nack, unroutable when
        `mandatory`, timeout, channel lost). Broker failures are returned, never raised:
        `result.raise_first()` when it is all or nothing.

        Each message gets its message_id, correlation_id (else the context's, else a new one),
        timestamp and traceparent (its own when it has one, as outbox rows do, else the
        span's). No validation here: the consumer decodes and validates. `confirm=False` uses a
        channel without confirms (transient events such as typing); `mandatory` needs confirms.
        """
        batch = [messages] if isinstance(messages, OutgoingMessage) else list(messages)
        if not batch:
            return PublishResult()
        trace_headers: dict[str, Any] = {}
        with start_producer_span(f"{batch[0].type_name} publish", trace_headers) as span:
            if len(batch) > 1:
                span.set_attribute("messaging.batch.message_count", len(batch))
            try:
                channel = self.channel if confirm else self._fast_channel
                if channel is None:
                    raise RuntimeError("Broker.connect() has not been called")
                underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
            except Exception as exc:
                failure = PublishError(f"broker unavailable: {exc!r}")
                result = PublishResult(failure for _ in batch)
                record_publish(exchange, confirm, result, None)
                return result
            started = time.perf_counter()
            result = await publish_frames(
                underlay,
                exchange,
                batch,
                app_id=self.service,
                user_id=self.user_id,
                trace_headers=trace_headers,
                mandatory=mandatory and confirm,
                timeout=self.publish_timeout,
            )
            record_publish(exchange, confirm, result, time.perf_counter() - started)
            return result

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
        label: str | None = None,
        accept_from: str | Iterable[str] | None = None,
    ) -> ConsumerHandle:
        """Consume one queue, or several into one inbox (one batch may span them); see
        `ConsumerHandle` (queues can be added and given back while it runs; `label` names it in
        logs and metrics, needed when it starts with no queue). `no_ack` only for exclusive
        queues, whose messages die with us anyway. `accept_from`: only messages whose AMQP
        `user_id` (validated by the broker) names this account (or one of these) are handled,
        others are dead-lettered unread (ADR 0015)."""
        handle = ConsumerHandle(
            self.connection,
            queue,
            handlers,
            contracts=self.contracts,
            on_stopped=self._forget_consumer,
            prefetch=prefetch,
            batch=batch,
            max_batch=max_batch,
            max_wait_s=max_wait_s,
            no_ack=no_ack,
            label=label,
            accept_from=accept_from,
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
        body: msgspec.Struct,
        *,
        reply_type: type[ReplyT],
        timeout: float = 5.0,  # noqa: ASYNC109 - the documented API
    ) -> ReplyT:
        """Send `body` to `queue` over direct reply-to and return the reply, decoded and
        validated as `reply_type`. Raises RequestTimeout when no reply comes in time (also when
        the queue does not exist or the broker is down)."""
        if self._rpc is None:
            self._rpc = RpcClient(
                self.connection, self.contracts, app_id=self.service, user_id=self.user_id
            )
        return await self._rpc.request(queue, body, reply_type=reply_type, timeout=timeout)

    async def serve(
        self,
        queue: str,
        request_type_name: str,
        responder: Respond,
        *,
        prefetch: int = 20,
    ) -> ConsumerHandle:
        """Answer requests of `request_type_name` on `queue` with the struct `responder`
        returns (its contract is the reply's type). A responder that raises is logged and the
        request dropped: the caller gets RequestTimeout."""
        return await self.consume(
            queue, {request_type_name: reply_handler(self.publish, responder)}, prefetch=prefetch
        )
