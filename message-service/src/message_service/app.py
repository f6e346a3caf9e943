"""Composition root: settings, database, broker, outbox relay, consumers and routes."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from chat_runtime.db import create_engine, ensure_database, run_migrations_async, session_factory
from chat_runtime.http import create_app as create_base_app
from chat_runtime.logging import configure_logging, get_logger
from chat_runtime.messaging import EXCHANGE_DLX, EXCHANGE_EVENTS, Broker, Envelope
from chat_runtime.messaging.outbox import OutboxRelay
from chat_runtime.messaging.topology import (
    MESSAGE_EVENTS_QUEUE,
    MESSAGE_QUERY_QUEUE,
    declare_exclusive_queue,
    declare_topology,
    read_queue,
    send_queue,
)
from chat_runtime.tokens import TokenVerifier, load_revocations, revocation_handler
from chat_runtime.tracing import configure_tracing
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from message_service import bus, store
from message_service.api import dms, messages, rooms
from message_service.api.deps import Verifier, install_error_handlers
from message_service.settings import MessageSettings

log = get_logger(__name__)


def _dead_letter(broker: Broker) -> bus.DeadLetter:
    async def dead_letter(env: Envelope, reason: str) -> None:
        # The routing key is `message.send.v1.<shard>`; its queue's dead partner is bound on
        # chat.dlx with the queue name.
        shard = env.routing_key.rsplit(".", 1)[-1]
        await broker.publish(
            EXCHANGE_DLX,
            send_queue(int(shard)),
            env.type_name,
            env.body,
            message_id=env.message_id,
            correlation_id=env.correlation_id,
            headers={
                "x-chat-dead-reason": reason[:500],
                "x-chat-delivery-count": env.delivery_count,
            },
        )

    return dead_letter


class Runtime:
    """What the lifespan starts and stops; kept on app.state for readiness and tests."""

    def __init__(self) -> None:
        self.consumers: list[Any] = []
        self.broker: Broker | None = None
        self.relay: OutboxRelay | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def broker_ready(self) -> bool:
        return self.broker is not None and self.broker.is_ready()

    async def consumers_running(self) -> bool:
        return bool(self.consumers) and all(c.running for c in self.consumers)


async def _database_ok(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with sessions() as session:
        await session.execute(sa.text("SELECT 1"))
    return True


async def start_bus(app: FastAPI, settings: MessageSettings, runtime: Runtime) -> None:
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    broker = Broker(settings.amqp_url, service=settings.service_name)
    await broker.connect()
    runtime.broker = broker
    await declare_topology(
        broker.channel, settings.send_shards, delivery_limit=settings.delivery_limit
    )
    relay = OutboxRelay(sessions, store.outbox, broker)
    relay.start()
    runtime.relay = relay
    app.state.relay = relay
    deps = bus.BusDeps(
        sessions=sessions,
        relay=relay,
        delivery_limit=settings.delivery_limit,
        dead_letter=_dead_letter(broker),
    )
    # Every send shard feeds one batch (group commit): what arrived on any shard while the
    # previous transaction ran is committed together, instead of one small transaction per shard
    # racing the others. Each shard keeps its order; rooms are locked in id order.
    runtime.consumers.append(
        await broker.consume(
            [send_queue(shard) for shard in range(settings.send_shards)],
            {"*": functools.partial(bus.handle_send_batch, deps)},
            prefetch=settings.send_prefetch,
            batch=True,
            max_batch=settings.send_max_batch,
            max_wait_s=settings.send_batch_wait_s,
        )
    )
    for shard in range(settings.send_shards):
        runtime.consumers.append(
            await broker.consume(
                read_queue(shard), {"room.read.v1": functools.partial(bus.handle_read, deps)}
            )
        )
    runtime.consumers.append(
        await broker.consume(
            MESSAGE_EVENTS_QUEUE,
            {"auth.user.registered.v1": functools.partial(bus.handle_user_registered, deps)},
        )
    )
    verifier = app.state.verifier
    if isinstance(verifier, TokenVerifier):
        await _follow_revocations(broker, verifier, runtime)
    runtime.consumers.append(
        await broker.serve(
            MESSAGE_QUERY_QUEUE,
            "membership.query.v1",
            functools.partial(bus.answer_membership_query, deps),
        )
    )


async def _follow_revocations(broker: Broker, verifier: TokenVerifier, runtime: Runtime) -> None:
    """Refuse access tokens of revoked sessions (api-v1 §3): every replica needs every event, so
    each process has its own exclusive queue; the recent past is asked from auth-service."""
    name = f"message-service.revocations.{uuid.uuid4().hex[:12]}"
    await declare_exclusive_queue(
        broker.channel, name, bindings=[(EXCHANGE_EVENTS, "auth.session.revoked.v1")]
    )
    runtime.consumers.append(
        await broker.consume(
            name, {"auth.session.revoked.v1": revocation_handler(verifier.revocations)}
        )
    )

    async def load() -> None:
        try:
            await load_revocations(broker, verifier.revocations)
        except Exception as exc:  # auth-service down: live events still arrive
            log.warning("revocations_not_loaded", error=repr(exc))

    runtime.tasks.append(asyncio.create_task(load()))


SHUTDOWN_DRAIN_S = 5.0


async def stop_bus(runtime: Runtime) -> None:
    # Consumers first: in-flight batches finish and commit, nothing unfinished is acked.
    for consumer in runtime.consumers:
        await consumer.cancel()
    runtime.consumers.clear()
    for task in runtime.tasks:
        task.cancel()
    runtime.tasks.clear()
    if runtime.relay is not None:
        # Publish what the last batches committed, so recipients need not wait for a restart.
        await runtime.relay.stop(drain_timeout_s=SHUTDOWN_DRAIN_S)
    if runtime.broker is not None:
        await runtime.broker.close()


def create_app(
    settings: MessageSettings | None = None,
    *,
    verifier: Verifier | None = None,
    with_bus: bool = True,
) -> FastAPI:
    """The ASGI app. Tests pass a fake verifier, and `with_bus=False` for REST without a broker
    (events then stay in the outbox)."""
    settings = settings or MessageSettings()
    runtime = Runtime()
    have_migrations = Path(settings.alembic_ini).is_file()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations and have_migrations:
            await ensure_database(settings.database_url)
            await run_migrations_async(settings.alembic_ini, settings.database_url)
        elif settings.run_migrations:
            log.warning(
                "migrations_skipped", reason="alembic.ini not found", path=settings.alembic_ini
            )
        engine = create_engine(settings.database_url)
        app.state.sessions = session_factory(engine)
        app.state.relay = None
        app.state.verifier = verifier or TokenVerifier(settings.jwks_url)
        readiness = app.state.readiness
        readiness.add("database", functools.partial(_database_ok, app.state.sessions))
        try:
            if with_bus:
                await start_bus(app, settings, runtime)
                readiness.add("broker", runtime.broker_ready)
                readiness.add("consumers", runtime.consumers_running)
            log.info("message_service_started", port=settings.port, bus=with_bus)
            yield
        finally:
            await stop_bus(runtime)
            if isinstance(app.state.verifier, TokenVerifier):
                await app.state.verifier.aclose()
            await engine.dispose()

    app = create_base_app(settings, title="message-service", lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(rooms.router)
    app.include_router(messages.router)
    app.include_router(dms.router)
    return app


def build() -> FastAPI:
    """Entry for uvicorn (`message_service.app:build`, factory=True)."""
    settings = MessageSettings()
    configure_logging(settings.service_name, settings.version, settings.log_level)
    configure_tracing(settings.service_name, settings.version, settings.otel_exporter)
    return create_app(settings)
