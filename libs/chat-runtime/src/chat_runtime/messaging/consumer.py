"""The consumer runner behind `Broker.consume`: decode, dispatch, ack only after the handler."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import structlog
from aio_pika.abc import (
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
)
from opentelemetry.trace import Span

from chat_runtime.logging import correlation_id_var, get_logger
from chat_runtime.messaging.envelope import (
    BatchHandler,
    BatchResult,
    ContractRegistry,
    Envelope,
    Handler,
    Settlement,
)
from chat_runtime.messaging.errors import InfrastructureError, is_infrastructure_error
from chat_runtime.retry import retrying
from chat_runtime.tracing import start_consumer_span

log = get_logger("chat_runtime.consumer")

# Backoff while a handler's dependency is down (the deliveries are held meanwhile).
RETRY_INITIAL_S = 0.1
RETRY_MAX_S = 5.0


def _header_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return value


def decode_message(message: AbstractIncomingMessage, contracts: ContractRegistry) -> Envelope[Any]:
    """The delivery as an Envelope whose body is decoded and validated by its contract.

    Raises ValueError (malformed JSON, ContractError, msgspec's errors) for a body no handler
    should see; the caller decides how to settle it."""
    type_name = message.type or ""
    body = contracts.decode(type_name, message.body)
    headers = {k: _header_value(v) for k, v in (message.headers or {}).items()}
    count = headers.get("x-delivery-count", 0)
    return Envelope(
        type_name=type_name,
        body=body,
        raw=message.body,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        headers=headers,
        routing_key=message.routing_key or "",
        redelivered=bool(message.redelivered),
        delivery_count=int(count) if isinstance(count, int | str) and str(count).isdigit() else 0,
        reply_to=message.reply_to,
        exchange=message.exchange or "",
    )


@contextlib.contextmanager
def message_context(envelope: Envelope[Any], span_name: str | None = None) -> Iterator[Span]:
    """Bind the message's correlation id and continue its trace (batch handlers use it per item)."""
    # Requests carry the caller's correlation id in a header (the property matches the reply).
    correlation_id = envelope.headers.get("x-correlation-id") or envelope.correlation_id
    token = correlation_id_var.set(correlation_id)
    with (
        structlog.contextvars.bound_contextvars(correlation_id=correlation_id),
        start_consumer_span(
            span_name or f"{envelope.type_name} process",
            envelope.headers,
            {
                "messaging.system": "rabbitmq",
                "messaging.message.id": envelope.message_id or "",
                "messaging.rabbitmq.destination.routing_key": envelope.routing_key,
            },
        ) as span,
    ):
        try:
            yield span
        finally:
            correlation_id_var.reset(token)


class _HoldAbandoned(Exception):
    """Held deliveries are given up: the consumer stops, or the broker link they came on dropped
    (the broker redelivers them; their ack could no longer reach it)."""


_SETTLE_ACTIONS: dict[Settlement, str] = {"ack": "ack", "retry": "nack", "dead_letter": "reject"}


async def _settle(message: AbstractIncomingMessage, action: str) -> None:
    # A failed ack after a reconnect is harmless: the broker redelivers the message.
    try:
        if action == "ack":
            await message.ack()
        elif action == "nack":
            await message.nack(requeue=True)
        else:
            await message.reject(requeue=False)
    except Exception as exc:
        log.warning("settle_failed", action=action, error=repr(exc))


def dispatch_by_type(handlers: Mapping[str, Handler]) -> BatchHandler:
    """A batch handler that runs each envelope's handler, in arrival order, for consumers whose
    handlers differ by type (`consume(..., batch=True, handlers={"*": dispatch_by_type(...)})`).

    For queues where a failed message is not worth a retry (`no_ack` queues whose state the next
    message repairs, like presence signals and the gateway's events): a handler that raises is
    logged and the rest of the batch still runs; types without a handler are skipped."""

    async def dispatch(envelopes: list[Envelope[Any]]) -> None:
        for envelope in envelopes:
            handler = handlers.get(envelope.type_name)
            if handler is None:
                continue
            try:
                await handler(envelope)
            except Exception:
                log.exception(
                    "batch_item_handler_failed",
                    type_name=envelope.type_name,
                    message_id=envelope.message_id,
                )

    return dispatch


def _in_tag_order(messages: Sequence[AbstractIncomingMessage]) -> bool:
    """All on one channel with rising delivery tags (what one channel's arrival order gives)."""
    channel = messages[0].channel
    previous = -1
    for message in messages:
        tag = message.delivery_tag
        if message.channel is not channel or tag is None or tag <= previous:
            return False
        previous = tag
    return True


async def _settle_multiple(last: AbstractIncomingMessage) -> None:
    try:
        await last.ack(multiple=True)
    except Exception as exc:
        log.warning("settle_failed", action="ack_multiple", error=repr(exc))


class ConsumerHandle:
    """Consumes one queue, or several on one channel into one inbox.

    Several queues matter for batch handlers: message-service's eight send shards feed one
    batch, so a transaction carries what arrived on all of them (group commit) instead of eight
    half-empty transactions racing each other. Per-queue order is kept (one inbox, arrival
    order); the handler sees deliveries in that order.
    """

    def __init__(
        self,
        connection: AbstractConnection,
        queue: str | Sequence[str],
        handlers: Mapping[str, Handler] | Mapping[str, BatchHandler],
        *,
        contracts: ContractRegistry,
        on_stopped: Callable[[ConsumerHandle], None] | None = None,
        prefetch: int = 50,
        batch: bool = False,
        max_batch: int = 100,
        max_wait_s: float = 0.005,
        no_ack: bool = False,
    ) -> None:
        if batch and set(handlers) != {"*"}:
            raise ValueError('batch consumers take exactly one handler: handlers={"*": fn}')
        self.connection = connection
        self.contracts = contracts
        self._on_stopped = on_stopped
        self.queue_names = [queue] if isinstance(queue, str) else list(queue)
        if not self.queue_names:
            raise ValueError("a consumer needs at least one queue")
        self.queue_name = ",".join(self.queue_names)
        self.handlers = handlers
        self.prefetch = prefetch
        self.batch = batch
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max_wait_s
        # The broker counts a delivery as settled when it sends it: only for queues whose
        # messages die with the consumer anyway (exclusive, auto-delete), where an ack would
        # protect nothing and costs a frame each way.
        self.no_ack = no_ack
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._channel: AbstractRobustChannel | None = None
        self._queues: list[tuple[AbstractQueue, str]] = []
        self._worker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._busy = False
        self._acked_by_multiple: set[int] = set()

    async def start(self) -> None:
        channel = cast(
            AbstractRobustChannel, await self.connection.channel(publisher_confirms=False)
        )
        await channel.set_qos(prefetch_count=self.prefetch)
        self._channel = channel
        self._worker = asyncio.create_task(self._run(), name=f"consumer:{self.queue_name}")
        for name in self.queue_names:
            # passive: the topology module owns declarations; this only checks the queue exists.
            queue = await channel.declare_queue(name, passive=True)
            tag = await queue.consume(self._on_delivery, no_ack=self.no_ack)
            self._queues.append((queue, tag))
        log.info("consumer_started", queue=self.queue_name, batch=self.batch)

    @property
    def running(self) -> bool:
        return (
            self._worker is not None
            and not self._worker.done()
            and not self._stopping.is_set()
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def cancel(self, grace_s: float = 30.0) -> None:
        """Stop taking deliveries, let the one in flight finish, leave the rest unacked."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for queue, tag in self._queues:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        if self._worker is not None:
            if not self._busy:
                self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(self._worker, grace_s)
        if self._channel is not None:
            with contextlib.suppress(Exception):
                # Closing the channel returns every unacked delivery to the queue.
                await self._channel.close()
        if self._on_stopped is not None:
            self._on_stopped(self)
        log.info("consumer_stopped", queue=self.queue_name)

    async def _on_delivery(self, message: AbstractIncomingMessage) -> None:
        await self._inbox.put(message)

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        first = await self._inbox.get()
        items = [first]
        if not self.batch:
            return items
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(items) < self.max_batch:
            try:
                items.append(self._inbox.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self._inbox.get(), remaining))
            except TimeoutError:
                break
        return items

    async def _run(self) -> None:
        while not self._stopping.is_set():
            items = await self._next_batch()
            self._busy = True
            self._acked_by_multiple.clear()
            try:
                await self._process(items)
            except Exception:
                log.exception("consumer_batch_crashed", queue=self.queue_name)
                for message in items:
                    if not message.processed and id(message) not in self._acked_by_multiple:
                        await self._settle(message, "nack")
            finally:
                self._busy = False

    async def _settle(self, message: AbstractIncomingMessage, action: str) -> None:
        if not self.no_ack:
            await _settle(message, action)

    async def _ack_all(self, messages: Sequence[AbstractIncomingMessage]) -> None:
        """Ack a handled batch with one `basic.ack(multiple)` on its last delivery tag.

        That is exact: the worker takes deliveries in arrival order, which is tag order on one
        channel, and settles every batch before taking the next, so every lower tag still open
        belongs to this batch (those settled on admission are no longer open). Deliveries from
        another channel (a reconnect) or out of order are acked one by one.
        """
        if self.no_ack:
            return
        last = messages[-1]
        if len(messages) > 1 and _in_tag_order(messages):
            await _settle_multiple(last)
            self._acked_by_multiple.update(id(m) for m in messages[:-1])
            return
        for message in messages:
            await _settle(message, "ack")

    def _handler_for(self, type_name: str) -> Any:
        if self.batch:
            return self.handlers.get("*")
        return self.handlers.get(type_name) or self.handlers.get("*")

    async def _admit(self, message: AbstractIncomingMessage) -> Envelope[Any] | None:
        """Settle what can never succeed; return the envelope of what should be handled."""
        if message.channel.is_closed:
            return None  # stale delivery from before a reconnect; the broker redelivers it
        type_name = message.type or ""
        if (
            not type_name
            or not self.contracts.is_known(type_name)
            or not self._handler_for(type_name)
        ):
            log.warning(
                "unknown_message_type_acked",
                queue=self.queue_name,
                type_name=type_name,
                message_id=message.message_id,
            )
            await self._settle(message, "ack")
            return None
        try:
            return decode_message(message, self.contracts)
        except ValueError as exc:  # ContractError and msgspec's errors are ValueErrors
            log.error(
                "invalid_message_dead_lettered",
                queue=self.queue_name,
                type_name=type_name,
                message_id=message.message_id,
                error=str(exc)[:500],
            )
            await self._settle(message, "reject")
            return None

    async def _process(self, items: Sequence[AbstractIncomingMessage]) -> None:
        admitted: list[tuple[AbstractIncomingMessage, Envelope[Any]]] = []
        for message in items:
            envelope = await self._admit(message)
            if envelope is not None:
                admitted.append((message, envelope))
        if not admitted:
            return
        if self.batch:
            await self._handle([m for m, _ in admitted], [e for _, e in admitted])
        else:
            for message, envelope in admitted:
                await self._handle([message], [envelope])

    async def _call(self, envelopes: list[Envelope[Any]]) -> BatchResult | None:
        if self.batch:
            batch_handler = cast(BatchHandler, self.handlers["*"])
            first = envelopes[0]
            name = f"{self.queue_name} batch"
            if len(envelopes) == 1:
                with message_context(first, name):
                    result = await batch_handler(envelopes)
            else:
                attrs = {"messaging.batch.message_count": len(envelopes)}
                with start_consumer_span(name, first.headers, attrs):
                    result = await batch_handler(envelopes)
            return result if isinstance(result, BatchResult) else None
        envelope = envelopes[0]
        handler = cast(Handler, self._handler_for(envelope.type_name))
        with message_context(envelope):
            await handler(envelope)
        return None

    async def _handle(
        self, messages: list[AbstractIncomingMessage], envelopes: list[Envelope[Any]]
    ) -> None:
        try:
            # The common case first and without the retry machinery, which costs ~25 µs a call.
            result = await self._call(envelopes)
        except Exception as exc:
            if not _is_hold_error(exc):
                await self._requeue(messages, envelopes)
                return
            try:
                result = await self._hold_and_retry(messages, envelopes, exc)
            except _HoldAbandoned as abandoned:
                log.warning(
                    "held_deliveries_abandoned", queue=self.queue_name, reason=str(abandoned)
                )
                return
            except Exception:
                await self._requeue(messages, envelopes)
                return
        if result is None:
            await self._ack_all(messages)
            return
        for message, envelope in zip(messages, envelopes, strict=True):
            outcome = result.outcome_of(envelope)
            if outcome != "ack":
                log.warning(
                    "batch_item_not_acked",
                    queue=self.queue_name,
                    outcome=outcome,
                    type_name=envelope.type_name,
                    message_id=envelope.message_id,
                    delivery_count=envelope.delivery_count,
                )
            await self._settle(message, _SETTLE_ACTIONS[outcome])

    async def _hold_and_retry(
        self,
        messages: list[AbstractIncomingMessage],
        envelopes: list[Envelope[Any]],
        first: BaseException,
    ) -> BatchResult | None:
        """A dependency is down: hold the deliveries (no ack/nack: requeueing would burn the
        quorum delivery limit) and retry the handler with the runtime's policy until it works,
        the consumer stops or the broker link drops."""

        async def hold(delay: float) -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                raise _HoldAbandoned("consumer stopping")
            if any(m.channel.is_closed for m in messages):
                raise _HoldAbandoned("broker link dropped")

        log.warning(
            "handler_infrastructure_error_retrying",
            queue=self.queue_name,
            delay_s=RETRY_INITIAL_S,
            error=repr(first)[:300],
        )
        await hold(RETRY_INITIAL_S)
        async for attempt in retrying(
            "handler_infrastructure_error_retrying",
            retry_on=_is_hold_error,
            initial_s=RETRY_INITIAL_S,
            max_s=RETRY_MAX_S,
            sleep=hold,
            queue=self.queue_name,
        ):
            with attempt:
                return await self._call(envelopes)
        raise AssertionError("unreachable: tenacity re-raises when it gives up")

    async def _requeue(
        self, messages: list[AbstractIncomingMessage], envelopes: list[Envelope[Any]]
    ) -> None:
        log.exception(
            "handler_failed_requeued",
            queue=self.queue_name,
            type_names=sorted({e.type_name for e in envelopes}),
            message_ids=[e.message_id for e in envelopes][:20],
        )
        for message in messages:
            await self._settle(message, "nack")


def _is_hold_error(exc: BaseException) -> bool:
    return isinstance(exc, InfrastructureError) or is_infrastructure_error(exc)
