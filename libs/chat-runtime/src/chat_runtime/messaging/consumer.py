"""The consumer runner behind `Broker.consume`: decode, dispatch, ack only after the handler."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import structlog
from aio_pika.abc import (
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
)
from aio_pika.exceptions import ChannelInvalidStateError
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
from chat_runtime.metrics import (
    CONSUMER_BATCH,
    DEAD_LETTERED,
    DELIVERIES,
    HANDLER_SECONDS,
    REDELIVERIES,
    REQUEUED,
    child,
    observe,
    queue_label,
)
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


def decode_message(
    message: AbstractIncomingMessage, contracts: ContractRegistry, queue: str = ""
) -> Envelope[Any]:
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
        queue=queue,
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


# "release" is not a per-delivery action: the queue's channel is closed (ConsumerHandle).
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


def _channel_closed(message: AbstractIncomingMessage) -> bool:
    """Whether the delivery's channel is gone (aio-pika's `message.channel` raises then, it
    never returns a closed channel): its unacked deliveries went back to the queue."""
    try:
        return bool(message.channel.is_closed)
    except ChannelInvalidStateError:
        return True


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


@dataclass(eq=False)
class _Subscription:
    """One queue of a consumer, on a channel of its own: closing that channel gives back every
    unacked delivery of this queue (and only of it) at once."""

    name: str
    channel: AbstractRobustChannel
    queue: AbstractQueue
    tag: str
    # Being given back: none of its deliveries reaches the handler any more.
    leaving: bool = False
    closed: bool = False


def accepted_senders(accept_from: str | Iterable[str] | None) -> frozenset[str] | None:
    """The broker accounts a consumer handles messages from; None (or empty): any."""
    if accept_from is None:
        return None
    senders = frozenset([accept_from] if isinstance(accept_from, str) else accept_from)
    senders = frozenset(s for s in senders if s)
    return senders or None


class ConsumerHandle:
    """Consumes one queue, or several into one inbox, handled by one worker.

    Several queues matter for batch handlers: message-service's send shards feed one batch, so
    a transaction carries what arrived on all of them (group commit) instead of half-empty
    transactions racing each other. Per-queue order is kept (one inbox, arrival order); the
    handler sees deliveries in that order.

    Each queue has a channel of its own, so one queue can be added (`add_queue`) or given back
    (`remove_queue`, or a batch handler's `BatchResult.release`) while the others go on: giving
    a queue back closes its channel, which returns all of its unacked deliveries at once, ahead
    of its later messages, before the broker activates another single-active consumer. That
    is how a queue changes hands without reordering (message-service's shard leases).
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
        label: str | None = None,
        accept_from: str | Iterable[str] | None = None,
    ) -> None:
        if batch and set(handlers) != {"*"}:
            raise ValueError('batch consumers take exactly one handler: handlers={"*": fn}')
        self.connection = connection
        self.contracts = contracts
        self._on_stopped = on_stopped
        # The queues consumed now (a consumer may start with none and be given some later).
        self.queue_names = [queue] if isinstance(queue, str) else list(queue)
        if not self.queue_names and label is None:
            raise ValueError("a consumer needs at least one queue, or a label")
        # Logs and metrics: every queue it may consume (`label`), else the ones it starts on.
        self.queue_name = label or ",".join(self.queue_names)
        self._label = queue_label(self.queue_name)  # the metrics' `queue` label, fixed
        self.handlers = handlers
        self.prefetch = prefetch
        self.batch = batch
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max_wait_s
        # The broker counts a delivery as settled when it sends it: only for queues whose
        # messages die with the consumer anyway (exclusive, auto-delete), where an ack would
        # protect nothing and costs a frame each way.
        self.no_ack = no_ack
        # Only these broker accounts' messages (AMQP user_id, checked by RabbitMQ) are handled.
        self.accept_from = accepted_senders(accept_from)
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._subs: dict[str, _Subscription] = {}
        self._tags: dict[str, str] = {}  # consumer tag -> queue (a robust restore keeps tags)
        self._changing = asyncio.Lock()  # add_queue / remove_queue, one at a time
        # Set while no batch is being handled (remove_queue waits for it).
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._busy = False
        self._acked_by_multiple: set[int] = set()

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name=f"consumer:{self.queue_name}")
        for name in list(self.queue_names):
            await self._subscribe(name)
        log.info("consumer_started", queue=self.queue_name, batch=self.batch)

    async def _subscribe(self, name: str) -> None:
        channel = cast(
            AbstractRobustChannel, await self.connection.channel(publisher_confirms=False)
        )
        try:
            await channel.set_qos(prefetch_count=self.prefetch)
            # passive: the topology module owns declarations; this only checks the queue exists.
            queue = await channel.declare_queue(name, passive=True)
            tag = await queue.consume(self._on_delivery, no_ack=self.no_ack)
        except BaseException:
            with contextlib.suppress(Exception):
                await channel.close()
            raise
        self._tags[tag] = name
        self._subs[name] = _Subscription(name, channel, queue, tag)
        if name not in self.queue_names:
            self.queue_names.append(name)

    @property
    def queues(self) -> list[str]:
        """The queues consumed now (not those being given back)."""
        return [name for name, sub in self._subs.items() if not sub.leaving]

    async def add_queue(self, name: str) -> None:
        """Consume `name` too: same inbox, same worker and batches, a channel of its own."""
        async with self._changing:
            if self._stopping.is_set():
                raise RuntimeError(f"consumer {self.queue_name} is stopping")
            current = self._subs.get(name)
            if current is not None and not current.leaving:
                return
            if current is not None:
                await self._give_back(current)
            await self._subscribe(name)
            log.info("consumer_queue_added", consumer=self.queue_name, queue=name)

    async def remove_queue(self, name: str) -> None:
        """Stop consuming `name` and give all its deliveries back, in order.

        From now on none of its deliveries reaches the handler; the batch in flight (which may
        hold some) is settled first; then the queue's channel is closed, and the broker returns
        every unacked delivery of the queue at once, ahead of its later messages. Returns when
        that is done: the caller may then let another process consume the queue."""
        async with self._changing:
            sub = self._subs.get(name)
            if sub is not None:
                await self._give_back(sub)

    async def _give_back(self, sub: _Subscription) -> None:
        sub.leaving = True
        await self._idle.wait()
        await self._close(sub)

    async def _close(self, sub: _Subscription) -> None:
        if sub.closed:
            return
        sub.closed = sub.leaving = True  # its deliveries are skipped until the channel is closed
        with contextlib.suppress(Exception):
            # Closing the channel returns every unacked delivery of the queue to it.
            await sub.channel.close()
        if self._subs.get(sub.name) is sub:
            del self._subs[sub.name]
            if sub.name in self.queue_names:
                self.queue_names.remove(sub.name)
        self._tags.pop(sub.tag, None)
        log.info("consumer_queue_removed", consumer=self.queue_name, queue=sub.name)

    def _queue_of(self, message: AbstractIncomingMessage) -> str:
        tag = getattr(message, "consumer_tag", None)
        found = self._tags.get(tag) if isinstance(tag, str) else None
        if found is not None:
            return found
        return self.queue_names[0] if len(self.queue_names) == 1 else ""

    def _given_back(self, message: AbstractIncomingMessage) -> bool:
        tag = getattr(message, "consumer_tag", None)
        name = self._tags.get(tag) if isinstance(tag, str) else None
        sub = self._subs.get(name) if name is not None else None
        return sub is not None and sub.leaving

    @property
    def running(self) -> bool:
        return (
            self._worker is not None
            and not self._worker.done()
            and not self._stopping.is_set()
            and all(not sub.channel.is_closed for sub in self._subs.values() if not sub.leaving)
        )

    async def cancel(self, grace_s: float = 30.0) -> None:
        """Stop taking deliveries, let the one in flight finish, leave the rest unacked."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        subs = list(self._subs.values())
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.queue.cancel(sub.tag)
        if self._worker is not None:
            if not self._busy:
                self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(self._worker, grace_s)
        for sub in subs:
            with contextlib.suppress(Exception):
                # Closing the channel returns every unacked delivery to the queue.
                await sub.channel.close()
        self._subs.clear()
        self._tags.clear()
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
            self._idle.clear()
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
                self._idle.set()

    async def _settle(self, message: AbstractIncomingMessage, action: str) -> None:
        if not self.no_ack:
            await _settle(message, action)

    async def _ack_all(self, messages: Sequence[AbstractIncomingMessage]) -> None:
        """Ack a handled batch with one `basic.ack(multiple)` per channel, on its last tag.

        That is exact: the worker takes deliveries in arrival order, which is tag order on each
        channel (one a queue), and settles every batch before taking the next, so every lower
        tag still open on that channel belongs to this batch (those settled on admission are no
        longer open; a queue being given back has none in a batch after it began leaving).
        Deliveries out of tag order are acked one by one.
        """
        if self.no_ack:
            return
        by_channel: dict[int, list[AbstractIncomingMessage]] = {}
        for message in messages:
            if _channel_closed(message):
                continue  # returned to its queue with the channel; the broker redelivers it
            by_channel.setdefault(id(message.channel), []).append(message)
        for group in by_channel.values():
            if len(group) > 1 and _in_tag_order(group):
                await _settle_multiple(group[-1])
                self._acked_by_multiple.update(id(m) for m in group[:-1])
                continue
            for message in group:
                await _settle(message, "ack")

    def _handler_for(self, type_name: str) -> Any:
        if self.batch:
            return self.handlers.get("*")
        return self.handlers.get(type_name) or self.handlers.get("*")

    async def _admit(self, message: AbstractIncomingMessage) -> Envelope[Any] | None:
        """Settle what can never succeed; return the envelope of what should be handled."""
        if _channel_closed(message):
            return None  # its channel closed (a reconnect, a queue given back): redelivered
        if self._given_back(message):
            return None  # its queue is being given back: closing its channel returns it
        if self.accept_from is not None and message.user_id not in self.accept_from:
            # Request/reply lets every account write to the default exchange, which reaches
            # any queue by name: a queue fed by one account refuses the others (ADR 0015).
            log.error(
                "foreign_sender_dead_lettered",
                queue=self.queue_name,
                type_name=message.type,
                message_id=message.message_id,
                user_id=message.user_id,
                expected=sorted(self.accept_from),
            )
            child(DEAD_LETTERED, self._label, "foreign_sender").inc()
            await self._settle(message, "reject")
            return None
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
            return decode_message(message, self.contracts, self._queue_of(message))
        except ValueError as exc:  # ContractError and msgspec's errors are ValueErrors
            log.error(
                "invalid_message_dead_lettered",
                queue=self.queue_name,
                type_name=type_name,
                message_id=message.message_id,
                error=str(exc)[:500],
            )
            child(DEAD_LETTERED, self._label, "invalid").inc()
            await self._settle(message, "reject")
            return None

    async def _process(self, items: Sequence[AbstractIncomingMessage]) -> None:
        label = self._label
        child(DELIVERIES, label).inc(len(items))
        redelivered = sum(1 for message in items if message.redelivered)
        if redelivered:
            child(REDELIVERIES, label).inc(redelivered)
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
        label = self._label
        started = time.perf_counter()
        if self.batch:
            batch_handler = cast(BatchHandler, self.handlers["*"])
            first = envelopes[0]
            name = f"{self.queue_name} batch"
            child(CONSUMER_BATCH, label).observe(len(envelopes))
            if len(envelopes) == 1:
                with message_context(first, name):
                    result = await batch_handler(envelopes)
                    observe(child(HANDLER_SECONDS, label), time.perf_counter() - started)
            else:
                attrs = {"messaging.batch.message_count": len(envelopes)}
                with start_consumer_span(name, first.headers, attrs):
                    result = await batch_handler(envelopes)
                    observe(child(HANDLER_SECONDS, label), time.perf_counter() - started)
            return result if isinstance(result, BatchResult) else None
        envelope = envelopes[0]
        handler = cast(Handler, self._handler_for(envelope.type_name))
        with message_context(envelope):
            await handler(envelope)
            observe(child(HANDLER_SECONDS, label), time.perf_counter() - started)
        return None

    async def _handle(
        self, messages: list[AbstractIncomingMessage], envelopes: list[Envelope[Any]]
    ) -> None:
        held: Exception | None = None
        try:
            # The common case first and without the retry machinery, which costs ~25 µs a call.
            result = await self._call(envelopes)
        except Exception as exc:
            if not _is_hold_error(exc):
                await self._requeue(messages, envelopes)
                return
            held = exc
        if held is not None:
            # Retried outside the except block: what a retry raises must not get the first
            # failure as its __context__ (is_infrastructure_error looks through contexts, so
            # a later bug or refusal would pass for the outage and be held for ever).
            try:
                result = await self._hold_and_retry(messages, envelopes, held)
            except _HoldAbandoned as abandoned:
                log.warning(
                    "held_deliveries_abandoned", queue=self.queue_name, reason=str(abandoned)
                )
                await self._reopen_holding(messages)
                return
            except Exception:
                await self._requeue(messages, envelopes)
                return
        if result is None:
            await self._ack_all(messages)
            return
        # A queue released by any of its deliveries is given back whole: none of its
        # deliveries in this batch is settled, closing its channel returns them all.
        released = {
            self._queue_of(m)
            for m, e in zip(messages, envelopes, strict=True)
            if result.outcome_of(e) == "release"
        }
        for message, envelope in zip(messages, envelopes, strict=True):
            outcome = result.outcome_of(envelope)
            if outcome == "release" or self._queue_of(message) in released:
                continue
            if outcome != "ack":
                log.warning(
                    "batch_item_not_acked",
                    queue=self.queue_name,
                    outcome=outcome,
                    type_name=envelope.type_name,
                    message_id=envelope.message_id,
                    delivery_count=envelope.delivery_count,
                )
                if outcome == "dead_letter":
                    child(DEAD_LETTERED, self._label, "handler").inc()
                else:
                    child(REQUEUED, self._label).inc()
            await self._settle(message, _SETTLE_ACTIONS[outcome])
        for name in sorted(released):
            await self._release(name)

    async def _release(self, name: str) -> None:
        """The handler released the queue: give it back now (the batch is settled)."""
        log.warning("consumer_queue_released", consumer=self.queue_name, queue=name)
        sub = self._subs.get(name)
        if sub is not None:
            await self._close(sub)

    async def _reopen_holding(self, messages: Sequence[AbstractIncomingMessage]) -> None:
        """Held deliveries were given up because one channel closed: the others of the batch
        are still unacked on open channels, with later deliveries behind them. Closing those
        channels returns them all in order; the queues are then consumed again."""
        if self.no_ack or self._stopping.is_set():
            return
        open_queues = {self._queue_of(m) for m in messages if not _channel_closed(m)}
        for name in sorted(open_queues):
            sub = self._subs.get(name)
            if sub is None or sub.leaving:
                continue
            await self._close(sub)
            try:
                await self._subscribe(name)
            except Exception as exc:
                log.error("consumer_queue_reopen_failed", queue=name, error=repr(exc))

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
            if any(_channel_closed(m) for m in messages):
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
        if not self.no_ack:
            child(REQUEUED, self._label).inc(len(messages))
        for message in messages:
            await self._settle(message, "nack")


def _is_hold_error(exc: BaseException) -> bool:
    return isinstance(exc, InfrastructureError) or is_infrastructure_error(exc)
