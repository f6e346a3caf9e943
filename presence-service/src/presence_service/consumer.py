"""The signal consumer of one replica: auto-ack deliveries, handled in batches.

Why not the runtime's consumer runner: it settles every delivery on its own (a coroutine and a
`basic.ack` frame each), which at 200 signals per second was part of the per-message overhead
that keeps this service above its CPU budget (the runner was ~14 % of the profile samples, this
consumer ~11 %). Acks buy nothing on this queue: it is exclusive and auto-delete, so it dies with
our connection, acked or not, and the state it feeds is rebuilt from gateway heartbeats after any
loss (api-v1 §7). So the broker acks on delivery (`no_ack`).

Everything else matches the runner: bodies are checked against the contract with the compiled
validator, a body that breaks it is logged and dropped (this queue has no dead-letter exchange, so
the runner's reject drops it too), unknown types are logged and dropped, one consumer span per
batch continues the first message's trace, and the robust channel restores the consumer after a
reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import chat_contracts
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel
from chat_runtime.logging import get_logger
from chat_runtime.messaging import Broker, Envelope, decode_message
from chat_runtime.tracing import start_consumer_span

log = get_logger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]


class SignalConsumer:
    def __init__(
        self,
        broker: Broker,
        queue: str,
        handlers: Mapping[str, Handler],
        *,
        max_batch: int = 200,
        max_wait_s: float = 0.01,
    ) -> None:
        self.broker = broker
        self.queue_name = queue
        self.handlers = handlers
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max_wait_s
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._channel: AbstractRobustChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        channel = await self.broker.connection.channel(publisher_confirms=False)
        # passive: declared (with its bindings) on the broker's channel by the app.
        self._queue = await channel.declare_queue(self.queue_name, passive=True)
        self._channel = channel
        self._worker = asyncio.create_task(self._run(), name=f"signals:{self.queue_name}")
        self._tag = await self._queue.consume(self._inbox.put, no_ack=True)
        log.info("signal_consumer_started", queue=self.queue_name)

    @property
    def running(self) -> bool:
        return (
            self._worker is not None
            and not self._worker.done()
            and not self._stopping.is_set()
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def cancel(self) -> None:
        """Stop taking deliveries (nothing to finish: the state lives in memory)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._tag)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
        log.info("signal_consumer_stopped", queue=self.queue_name)

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        items = [await self._inbox.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(items) < self.max_batch:
            if not self._inbox.empty():
                items.append(self._inbox.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self._inbox.get(), remaining))
            except TimeoutError:
                break
        return items

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            envelopes = [e for e in map(self._admit, batch) if e is not None]
            if not envelopes:
                continue
            attrs = {"messaging.batch.message_count": len(envelopes)}
            with start_consumer_span(f"{self.queue_name} batch", envelopes[0].headers, attrs):
                for envelope in envelopes:
                    try:
                        await self.handlers[envelope.type_name](envelope)
                    except Exception:
                        # A handler over valid input does not fail; if one does, the next
                        # heartbeat of that gateway repairs whatever this signal would have.
                        log.exception(
                            "signal_handler_failed",
                            type_name=envelope.type_name,
                            message_id=envelope.message_id,
                        )

    def _admit(self, message: AbstractIncomingMessage) -> Envelope | None:
        type_name = message.type or ""
        if type_name not in self.handlers:
            log.warning(
                "unknown_message_type_dropped",
                queue=self.queue_name,
                type_name=type_name,
                message_id=message.message_id,
            )
            return None
        try:
            return decode_message(message, chat_contracts.validate)
        except ValueError as exc:  # orjson.JSONDecodeError and ContractError are ValueErrors
            log.error(
                "invalid_message_dropped",
                queue=self.queue_name,
                type_name=type_name,
                message_id=message.message_id,
                error=str(exc)[:500],
            )
            return None
