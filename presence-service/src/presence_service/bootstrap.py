"""Composition root of presence-service: the service host (database, token verification
following revocations), the signal consumer, the leader and the silence sweep."""

from __future__ import annotations

import time
from typing import Any

from aio_pika.abc import AbstractChannel
from chat_contracts import names
from chat_runtime.host import Consumer, Database, HostContext, Responder, ServiceHost
from chat_runtime.logging import get_logger

from presence_service.api import presence
from presence_service.bus import signals
from presence_service.bus.change_publisher import change_publisher
from presence_service.bus.leader import Leader
from presence_service.service import Clock, PresenceService
from presence_service.settings import PresenceSettings
from presence_service.store import AdvisoryLock, SqlPresenceStore

log = get_logger(__name__)


def build(
    settings: PresenceSettings | None = None, *, clock: Clock = time.time, verifier: Any = None
) -> ServiceHost:
    """The service. Tests pass a fake `verifier` (then no revocation set) or a fake `clock`."""
    settings = settings or PresenceSettings()
    queue = names.presence_signals_queue(settings.replica_id)

    async def on_start(ctx: HostContext) -> None:
        assert ctx.engine is not None
        assert ctx.broker is not None
        service = ctx.state.presence = PresenceService(
            SqlPresenceStore(ctx.engine),
            silence_s=settings.gateway_silence_s,
            recovery_s=settings.recovery_s,
            clock=clock,
        )
        await service.load_held()
        leader = ctx.state.leader = Leader(
            service,
            AdvisoryLock(
                settings.database_url,
                settings.leader_lock_key,
                ssl=settings.database_ssl_context(),
            ),
            change_publisher(ctx.broker),
            retry_s=settings.lock_retry_s,
            lock_check_s=settings.lock_check_s,
            tick_s=settings.sweep_interval_s,
            coalesce_s=settings.announce_coalesce_s,
            offline_grace_s=settings.offline_grace_s,
            write_every_s=settings.announced_write_every_s,
        )

        async def lead() -> None:
            # Only once signals reach us, as the recovery round starts then (`signals_bound`).
            await service.signals_flowing.wait()
            await leader.run()

        ctx.state.leader_task = ctx.spawn(lead(), "presence-leader")
        ctx.spawn(
            service.sweep_forever(settings.sweep_interval_s, ctx.broker.is_ready), "presence-sweep"
        )
        log.info("presence_started", replica_id=settings.replica_id, queue=queue)

    def bus(ctx: HostContext) -> list[Consumer | Responder]:
        service: PresenceService = ctx.state.presence
        handlers = signals.handlers(service, ctx.revocation_handler)

        async def declare(channel: AbstractChannel) -> None:
            await signals.declare_queue(channel, queue, handlers)
            service.signals_bound()

        # no_ack: the queue is exclusive and auto-delete, so it dies with our connection, acked
        # or not, and the state it feeds is rebuilt from gateway heartbeats after any loss
        # (api-v1 §7); acks were a frame and a coroutine per signal for nothing. In batches of
        # up to 200 within 10 ms, one consumer span each; a handler that fails is logged and the
        # next heartbeat repairs what its signal would have done.
        return [
            Consumer(
                queues=queue,
                handlers=handlers,
                declare=declare,
                no_ack=True,
                batch=True,
                max_batch=200,
                max_wait_s=0.01,
            )
        ]

    async def on_reconnect(ctx: HostContext) -> None:
        ctx.state.presence.broker_reconnected()
        log.info("presence_silence_timers_restarted")

    def on_disconnect(ctx: HostContext) -> None:
        ctx.state.presence.broker_lost()

    async def on_stop(ctx: HostContext) -> None:
        # The consumer has stopped: let the leader finish the round in flight, then let go.
        if ctx.state.presence.signals_flowing.is_set():
            await ctx.state.leader.stop(ctx.state.leader_task)

    migrate = settings.run_migrations
    return ServiceHost(
        settings,
        title="presence-service",
        routers=[presence.router],
        database=Database(settings.alembic_ini_path() if migrate else None, migrate=migrate),
        verify_tokens=True,
        # Revoked sessions arrive on the signal queue (`signals.handlers`): one queue a replica.
        revocations_queue=False,
        bus=bus,
        on_start=on_start,
        on_stop=on_stop,
        on_reconnect=on_reconnect,
        on_disconnect=on_disconnect,
        verifier=verifier,
        connection_name=f"{settings.service_name}.{settings.replica_id}",
    )
