"""Composition root: settings, database, broker, state, leader loop and HTTP routes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import sqlalchemy as sa
from chat_runtime.db import create_engine, ensure_database, run_migrations_async
from chat_runtime.http import create_app
from chat_runtime.logging import configure_logging, get_logger
from chat_runtime.messaging import EXCHANGE_EVENTS, Broker, dispatch_by_type
from chat_runtime.messaging.topology import declare_exclusive_queue, declare_topology
from chat_runtime.tokens import (
    RevocationSet,
    TokenVerifier,
    load_revocations,
    revocation_handler,
)
from chat_runtime.tracing import configure_tracing
from fastapi import FastAPI

from presence_service.api import presence
from presence_service.bus import (
    REVOKED,
    SIGNAL_BINDINGS,
    Leader,
    change_publisher,
    signal_handlers,
    signal_queue_name,
)
from presence_service.service import Clock, PresenceService
from presence_service.settings import PresenceSettings
from presence_service.store import AdvisoryLock, SqlPresenceStore

log = get_logger(__name__)

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_ini(configured: str | None) -> str:
    """The setting, else the source checkout, else ./presence-service (the image's /app)."""
    candidates = [Path(configured)] if configured else []
    candidates += [ALEMBIC_INI, Path.cwd() / "presence-service" / "alembic.ini"]
    for path in candidates:
        if path.is_file():
            return str(path)
    raise RuntimeError(
        "presence-service cannot find alembic.ini; set CHAT_ALEMBIC_INI to its path "
        f"(looked at {', '.join(str(p) for p in candidates)})"
    )


async def _sweep_forever(service: PresenceService, broker: Broker, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        # While our own link is down we hear no one: silence then is ours, not the gateways'.
        if broker.is_ready():
            dead = service.sweep()
            if dead:
                log.warning("presence_gateways_silent", gateways=dead)


async def _load_revocations(broker: Broker, revocations: RevocationSet) -> None:
    """Sessions revoked before we started; auth-service may still be starting, so retry."""
    delay = 1.0
    while True:
        try:
            count = await load_revocations(broker, revocations)
        except Exception as exc:  # RequestTimeout, or the broker not ready yet
            log.warning("presence_revocations_not_loaded", error=repr(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        else:
            log.info("presence_revocations_loaded", count=count)
            return


def create_presence_app(
    settings: PresenceSettings | None = None,
    *,
    clock: Clock = time.time,
    migrate: bool = True,
) -> FastAPI:
    settings = settings or PresenceSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await ensure_database(settings.database_url)
            await run_migrations_async(alembic_ini(settings.alembic_ini), settings.database_url)
        engine = create_engine(settings.database_url)
        service = PresenceService(
            SqlPresenceStore(engine),
            silence_s=settings.gateway_silence_s,
            recovery_s=settings.recovery_s,
            clock=clock,
        )
        app.state.presence = service
        revocations = RevocationSet()
        verifier = TokenVerifier(settings.jwks_url, revocations=revocations)
        app.state.verifier = verifier

        broker = Broker(
            settings.amqp_url,
            service=settings.service_name,
            connection_name=f"{settings.service_name}.{settings.replica_id}",
        )
        app.state.broker = broker
        await broker.connect()

        async def restart_silence_timers() -> None:
            service.broker_reconnected()
            log.info("presence_silence_timers_restarted")

        def link_lost(*_: object) -> None:
            service.broker_lost()

        broker.on_reconnect(restart_silence_timers)
        # Restored channels run before the reconnect callbacks: stop sweeping from the loss on.
        broker.connection.close_callbacks.add(link_lost)
        await declare_topology(broker.channel, settings.send_shards)
        queue = signal_queue_name(settings.replica_id)
        # Declared on the robust channel: re-created with its bindings after a reconnect.
        # Besides the signals, revoked sessions: this verifier must refuse their tokens too.
        bindings = [*SIGNAL_BINDINGS, REVOKED]
        await declare_exclusive_queue(
            broker.channel, queue, bindings=[(EXCHANGE_EVENTS, key) for key in bindings]
        )
        await service.load_held()
        handlers = {**signal_handlers(service), REVOKED: revocation_handler(revocations)}
        # no_ack: the queue is exclusive and auto-delete, so it dies with our connection, acked
        # or not, and the state it feeds is rebuilt from gateway heartbeats after any loss
        # (api-v1 §7); acks were a frame and a coroutine per signal for nothing. In batches of
        # up to 200 within 10 ms, one consumer span each; a handler that fails is logged and the
        # next heartbeat repairs what its signal would have done.
        consumer = await broker.consume(
            queue,
            {"*": dispatch_by_type(handlers)},
            batch=True,
            max_batch=200,
            max_wait_s=0.01,
            no_ack=True,
        )
        service.start_recovery()

        leader = Leader(
            service,
            AdvisoryLock(settings.database_url, settings.leader_lock_key),
            change_publisher(broker),
            retry_s=settings.lock_retry_s,
            lock_check_s=settings.lock_check_s,
            tick_s=settings.sweep_interval_s,
            coalesce_s=settings.announce_coalesce_s,
            offline_grace_s=settings.offline_grace_s,
            write_every_s=settings.announced_write_every_s,
        )
        app.state.leader = leader
        leader_task = asyncio.create_task(leader.run(), name="presence-leader")
        tasks = [
            leader_task,
            asyncio.create_task(
                _sweep_forever(service, broker, settings.sweep_interval_s), name="presence-sweep"
            ),
        ]
        loader = asyncio.create_task(_load_revocations(broker, revocations), name="revocations")

        async def database_ready() -> bool:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True

        async def broker_ready() -> bool:
            return broker.is_ready()

        async def consumer_ready() -> bool:
            return bool(consumer.running) and all(not t.done() for t in tasks)

        app.state.readiness.add("database", database_ready)
        app.state.readiness.add("broker", broker_ready)
        app.state.readiness.add("consumer", consumer_ready)
        log.info("presence_started", replica_id=settings.replica_id, queue=queue)
        try:
            yield
        finally:
            # Stop taking signals, then let the leader finish the round in flight.
            await consumer.cancel()
            await leader.stop(leader_task)
            for task in [*tasks, loader]:
                task.cancel()
            await asyncio.gather(*tasks, loader, return_exceptions=True)
            await broker.close()
            await verifier.aclose()
            await engine.dispose()

    app = create_app(settings, title="presence-service", lifespan=lifespan)
    app.include_router(presence.router)
    return app


def build_app() -> FastAPI:
    """Entry point for `uvicorn --factory presence_service.app:build_app`."""
    settings = PresenceSettings()
    configure_logging(settings.service_name, settings.version, settings.log_level)
    configure_tracing(settings.service_name, settings.version, settings.otel_exporter)
    return create_presence_app(settings)
