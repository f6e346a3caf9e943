"""Composition root of message-service: the service host with its database and outbox, the
REST routes, and the consumer table (handlers/)."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

from chat_contracts import names
from chat_runtime.host import Consumer, Database, HostContext, Responder, ServiceHost
from chat_runtime.http.rate_limit import install_rate_limits
from chat_runtime.logging import get_logger
from chat_runtime.messaging.rpc import reply_handler

from message_service import store
from message_service.api import dms, messages, rooms, search, threads
from message_service.api.deps import install_error_handlers
from message_service.handlers import blocks, files, membership, read, send, users
from message_service.handlers.deps import BusDeps
from message_service.leases import SEND_CONSUMER, SendShardLeases, new_owner, read_consumer
from message_service.settings import MessageSettings

log = get_logger(__name__)


def bus(settings: MessageSettings, ctx: HostContext) -> list[Consumer | Responder]:
    """The consumer table: one line per queue (family), handlers in handlers/."""
    leases: SendShardLeases | None = getattr(ctx.state, "send_leases", None)
    deps = BusDeps(
        sessions=ctx.require_sessions(),
        relay=ctx.relay,
        delivery_limit=settings.delivery_limit,
        features=settings.feature_switches,
        leases=leases,
    )
    shards = range(settings.send_shards)
    return [
        # The send shards this replica holds a lease on feed one batch (group commit): what
        # arrived on any of them while the previous transaction ran is committed together.
        # Each shard keeps its order; rooms are locked in id order. The lease keeper adds and
        # removes shard queues as leases come and go (ADR 0008).
        Consumer(
            queues=[names.send_queue(shard) for shard in shards],
            handlers=partial(send.handle_batch, deps),
            prefetch=settings.send_prefetch,
            batch=True,
            max_batch=settings.send_max_batch,
            max_wait_s=settings.send_batch_wait_s,
            name=SEND_CONSUMER,
            start_with=leases.held_queues if leases is not None else None,
            accept_from=settings.command_sender or None,
        ),
        # Each shard's read queue follows its lease too (load spread only: reads are not
        # fenced, a read position never moves back).
        *(
            Consumer(
                queues=names.read_queue(shard),
                handlers={names.ROOM_READ_V1: partial(read.handle, deps)},
                name=read_consumer(shard),
                start_with=partial(leases.read_queues, shard) if leases is not None else None,
                accept_from=settings.command_sender or None,
            )
            for shard in shards
        ),
        Consumer(
            queues=names.MESSAGE_EVENTS_QUEUE,
            handlers={
                names.AUTH_USER_REGISTERED_V1: partial(users.handle_registered, deps),
                names.AUTH_USER_UPDATED_V1: partial(users.handle_updated, deps),
                names.AUTH_BLOCK_CHANGED_V1: partial(blocks.handle_changed, deps),
                names.FILE_UPLOADED_V1: partial(files.handle_uploaded, deps),
            },
        ),
        _queries(deps, ctx, settings.query_sender_accounts()),
    ]


def _queries(deps: BusDeps, ctx: HostContext, askers: frozenset[str]) -> Consumer:
    """The request/reply queue answers several request types with one consumer (direct
    reply-to): a Responder per type on the same queue would share its deliveries round-robin,
    each acking and dropping the other's requests."""
    assert ctx.broker is not None  # the host opens the broker before it reads this table
    publish = ctx.broker.publish
    return Consumer(
        queues=names.MESSAGE_QUERY_QUEUE,
        handlers={
            names.MEMBERSHIP_QUERY_V1: reply_handler(publish, partial(membership.answer, deps)),
            names.FILE_ACCESS_QUERY_V1: reply_handler(publish, partial(files.answer_access, deps)),
        },
        prefetch=20,  # as a Responder's
        # Membership and file access are the gateway's and file-service's questions only.
        accept_from=askers or None,
    )


def _database(settings: MessageSettings, owner: str) -> Database:
    name = f"{settings.service_name} {owner}"  # pg_stat_activity: which replica is which
    if Path(settings.alembic_ini).is_file():
        return Database(
            alembic_ini=settings.alembic_ini,
            migrate=settings.run_migrations,
            application_name=name,
        )
    if settings.run_migrations:
        # An image without the source tree migrates in its own job.
        log.warning("migrations_skipped", reason="alembic.ini not found", path=settings.alembic_ini)
    return Database(alembic_ini=None, migrate=False, application_name=name)


async def _start_leases(settings: MessageSettings, owner: str, ctx: HostContext) -> None:
    """The send-shard lease keeper (ADR 0008): one round now, so the send consumer starts on
    this replica's shards, then every CHAT_SEND_LEASE_RENEW_S."""
    if not settings.send_leases or ctx.broker is None or ctx.engine is None:
        return
    leases = SendShardLeases(
        ctx.engine,
        shards=settings.send_shards,
        owner=owner,
        ttl_s=settings.send_lease_ttl_s,
        renew_s=settings.send_lease_renew_s,
        consumers=ctx.consumer,
    )
    ctx.state.send_leases = leases
    try:
        await asyncio.wait_for(leases.tick(), settings.send_lease_ttl_s)
    except Exception as exc:  # the database is not there yet: the keeper's rounds retry
        log.warning("send_leases_first_round_failed", error=repr(exc)[:300])
    leases.start(ctx.spawn)

    async def ready() -> bool:
        return leases.ready()

    ctx.readiness.add("send_leases", ready)
    ctx.readiness.describe("send_leases", leases.describe)


async def _stop_leases(ctx: HostContext) -> None:
    leases: SendShardLeases | None = getattr(ctx.state, "send_leases", None)
    if leases is not None:
        await leases.stop()  # after the consumers stopped: the others take the shards now


def build(
    settings: MessageSettings | None = None,
    *,
    verifier: Any | None = None,
    connect_bus: bool = True,
) -> ServiceHost:
    """The service. Tests pass a fake `verifier` (anything with `async verify(token)`), and
    `connect_bus=False` for REST without a broker (events then stay in the outbox)."""
    settings = settings or MessageSettings()
    owner = new_owner(settings.replica_id)
    host = ServiceHost(
        settings,
        title="message-service",
        routers=[rooms.router, messages.router, threads.router, dms.router, search.router],
        database=_database(settings, owner),
        outbox=store.outbox,
        verify_tokens=True,
        bus=partial(bus, settings),
        on_start=partial(_start_leases, settings, owner),
        on_stop=_stop_leases,
        verifier=verifier,
        connect_bus=connect_bus,
    )
    install_error_handlers(host.app)
    install_rate_limits(host.app, settings.rate_limits())
    return host
