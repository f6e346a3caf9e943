"""Composition root of message-service: the service host with its database and outbox, the
REST routes, and the consumer table (handlers/)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from chat_contracts import names
from chat_runtime.host import Consumer, Database, HostContext, Responder, ServiceHost
from chat_runtime.logging import get_logger

from message_service import store
from message_service.api import dms, messages, rooms
from message_service.api.deps import install_error_handlers
from message_service.handlers import membership, read, send, users
from message_service.handlers.deps import BusDeps
from message_service.settings import MessageSettings

log = get_logger(__name__)


def bus(settings: MessageSettings, ctx: HostContext) -> list[Consumer | Responder]:
    """The consumer table: one line per queue (family), handlers in handlers/."""
    deps = BusDeps(
        sessions=ctx.require_sessions(),
        relay=ctx.relay,
        delivery_limit=settings.delivery_limit,
        features=settings.feature_switches,
    )
    shards = range(settings.send_shards)
    return [
        # Every send shard feeds one batch (group commit): what arrived on any shard while the
        # previous transaction ran is committed together, instead of one small transaction per
        # shard racing the others. Each shard keeps its order; rooms are locked in id order.
        Consumer(
            queues=[names.send_queue(shard) for shard in shards],
            handlers=partial(send.handle_batch, deps),
            prefetch=settings.send_prefetch,
            batch=True,
            max_batch=settings.send_max_batch,
            max_wait_s=settings.send_batch_wait_s,
        ),
        *(
            Consumer(
                queues=names.read_queue(shard),
                handlers={names.ROOM_READ_V1: partial(read.handle, deps)},
            )
            for shard in shards
        ),
        Consumer(
            queues=names.MESSAGE_EVENTS_QUEUE,
            handlers={names.AUTH_USER_REGISTERED_V1: partial(users.handle_registered, deps)},
        ),
        Responder(
            names.MESSAGE_QUERY_QUEUE, names.MEMBERSHIP_QUERY_V1, partial(membership.answer, deps)
        ),
    ]


def _database(settings: MessageSettings) -> Database:
    if Path(settings.alembic_ini).is_file():
        return Database(alembic_ini=settings.alembic_ini, migrate=settings.run_migrations)
    if settings.run_migrations:
        # An image without the source tree migrates in its own job.
        log.warning("migrations_skipped", reason="alembic.ini not found", path=settings.alembic_ini)
    return Database(alembic_ini=None, migrate=False)


def build(
    settings: MessageSettings | None = None,
    *,
    verifier: Any | None = None,
    connect_bus: bool = True,
) -> ServiceHost:
    """The service. Tests pass a fake `verifier` (anything with `async verify(token)`), and
    `connect_bus=False` for REST without a broker (events then stay in the outbox)."""
    settings = settings or MessageSettings()
    host = ServiceHost(
        settings,
        title="message-service",
        routers=[rooms.router, messages.router, dms.router],
        database=_database(settings),
        outbox=store.outbox,
        verify_tokens=True,
        bus=partial(bus, settings),
        verifier=verifier,
        connect_bus=connect_bus,
    )
    install_error_handlers(host.app)
    return host
