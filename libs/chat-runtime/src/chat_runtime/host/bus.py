"""The host's broker side: connect (one retry policy), declare the topology, run the service's
consumer table, follow revocations, and reload them after every reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from chat_contracts import names

from chat_runtime.host.context import HostContext
from chat_runtime.host.spec import BusTable, Consumer, Responder
from chat_runtime.logging import get_logger
from chat_runtime.messaging import Broker, ConsumerHandle, dispatch_by_type
from chat_runtime.messaging.topology import declare_exclusive_queue, declare_topology
from chat_runtime.retry import retrying
from chat_runtime.tokens import load_revocations

log = get_logger("chat_runtime.host")

REVOCATIONS_LOAD_TIMEOUT_S = 5.0
DEFAULT_DELIVERY_LIMIT = 5


class HostBus:
    def __init__(
        self,
        ctx: HostContext,
        broker: Broker,
        *,
        revocations_queue: bool,
        on_reconnect: Callable[[HostContext], Awaitable[None]] | None,
        on_disconnect: Callable[[HostContext], None] | None,
    ) -> None:
        self.ctx = ctx
        self.broker = broker
        self.revocations_queue = revocations_queue
        self._on_reconnect = on_reconnect
        self._on_disconnect = on_disconnect
        self.handles: list[ConsumerHandle] = []
        self._reload: asyncio.Task[None] | None = None
        self._run: asyncio.Task[None] | None = None
        broker.on_reconnect(self._reconnected)

    # --- start ---------------------------------------------------------------------------

    def start(self, table: BusTable) -> None:
        self._run = asyncio.create_task(self.run(table), name="host-bus")

    async def run(self, table: BusTable) -> None:
        """Connect and start everything, retrying from scratch for ever (the service serves its
        API meanwhile; readiness says what is missing)."""
        async for attempt in retrying("bus_start_retrying", retry_on=Exception, max_s=10.0):
            with attempt:
                try:
                    await self._start_all(table)
                except BaseException:
                    await self._reset()
                    raise
        self.ctx.bus_ready.set()
        log.info("bus_ready", consumers=len(self.handles))

    async def _reset(self) -> None:
        await self.stop_consumers()
        try:
            await self.broker.close()
        except Exception as exc:
            log.warning("broker_close_failed", error=repr(exc))

    async def _start_all(self, table: BusTable) -> None:
        await self.broker.connect()
        self.broker.connection.close_callbacks.add(self._link_lost)
        settings = self.ctx.settings
        if getattr(settings, "amqp_declare_topology", True):
            await declare_topology(
                self.broker.channel,
                settings.send_shards,
                delivery_limit=int(getattr(settings, "delivery_limit", DEFAULT_DELIVERY_LIMIT)),
            )
        if self.ctx.revocations is not None and self.revocations_queue:
            await self._follow_revocations()
        for entry in table:
            self.handles.append(await self._start(entry))
        if self.ctx.relay is not None:
            self.ctx.relay.start()
        if self.ctx.revocations is not None:
            await self._load_revocations()

    async def _start(self, entry: Consumer | Responder) -> ConsumerHandle:
        if isinstance(entry, Responder):
            return await self.broker.serve(entry.queue, entry.request_type, entry.respond)
        if entry.declare is not None:
            await entry.declare(self.broker.channel)
        handlers: Any = entry.handlers
        if entry.batch and not callable(handlers):
            handlers = {"*": dispatch_by_type(handlers)}
        elif callable(handlers):
            handlers = {"*": handlers}
        queues = [entry.queues] if isinstance(entry.queues, str) else list(entry.queues)
        start = queues if entry.start_with is None else list(entry.start_with())
        handle = await self.broker.consume(
            start[0] if len(start) == 1 and entry.name is None else start,
            handlers,
            prefetch=entry.prefetch,
            batch=entry.batch,
            max_batch=entry.max_batch,
            max_wait_s=entry.max_wait_s,
            no_ack=entry.no_ack,
            label=",".join(queues),
            accept_from=entry.accept_from,
        )
        if entry.name is not None:
            self.ctx.consumers[entry.name] = handle
        return handle

    async def _follow_revocations(self) -> None:
        """Every replica needs every revocation: a queue of this process's own (dies with it)."""
        name = f"{self.ctx.settings.service_name}.revocations.{uuid.uuid4().hex[:12]}"
        await declare_exclusive_queue(
            self.broker.channel,
            name,
            bindings=[(names.EXCHANGE_EVENTS, names.AUTH_SESSION_REVOKED_V1)],
        )
        self.handles.append(
            await self.broker.consume(
                name,
                {names.AUTH_SESSION_REVOKED_V1: self.ctx.revocation_handler},
                no_ack=True,  # exclusive: its messages die with the connection anyway
            )
        )

    async def _load_revocations(self) -> None:
        """Until auth-service answers, tokens are refused (the set is not current)."""
        revocations = self.ctx.revocations
        assert revocations is not None
        async for attempt in retrying("revocations_load_retrying", retry_on=Exception, max_s=10.0):
            with attempt:
                count = await load_revocations(
                    self.broker, revocations, timeout=REVOCATIONS_LOAD_TIMEOUT_S
                )
        log.info("revocations_loaded", sessions=count)

    # --- link lost and back --------------------------------------------------------------

    def _link_lost(self, *_: Any) -> None:
        # Revocations published while we are away are lost with our exclusive queue: fail
        # closed until they are loaded again.
        if self.ctx.revocations is not None:
            self.ctx.revocations.mark_stale()
        log.warning("broker_link_lost")
        if self._on_disconnect is not None:
            try:
                self._on_disconnect(self.ctx)
            except Exception:
                log.exception("on_disconnect_failed")

    async def _reconnected(self) -> None:
        # The robust connection restored channels, queues, bindings and consumers already.
        if self.ctx.revocations is not None:
            self.ctx.revocations.mark_stale()
            if self._reload is None or self._reload.done():
                self._reload = asyncio.create_task(
                    self._load_revocations(), name="revocations-reload"
                )
        if self._on_reconnect is not None:
            await self._on_reconnect(self.ctx)

    # --- readiness and stop --------------------------------------------------------------

    def consumers_running(self) -> bool:
        return bool(self.ctx.bus_ready.is_set()) and all(h.running for h in self.handles)

    async def stop(self) -> None:
        """Stop starting and reloading, then stop the consumers."""
        for task in (self._run, self._reload):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        await self.stop_consumers()

    async def stop_consumers(self) -> None:
        """In-flight work finishes and is settled; nothing unfinished is acked."""
        handles, self.handles = self.handles, []
        self.ctx.consumers.clear()
        for handle in handles:
            await handle.cancel()
