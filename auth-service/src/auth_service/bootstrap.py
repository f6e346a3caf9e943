"""Composition root of auth-service: the service host with the database (migrated at start) and
its outbox, the `auth.revocations.query.v1` responder, and the keys, hasher and housekeeping
made in `on_start`. No token verifier from the host: auth-service checks its own sessions in
its database (`bearer.py`). The API serves while the broker is away; events wait in the outbox."""

from __future__ import annotations

import asyncio
import time
from functools import partial

from chat_contracts import names
from chat_runtime.host import Consumer, Database, HostContext, Responder, ServiceHost
from chat_runtime.http import rate_limit
from chat_runtime.http.rate_limit import install_rate_limits

from auth_service import backfill, housekeeping, revocations, store
from auth_service.api import admin, auth, blocks, jwks, users
from auth_service.api.errors import install_error_handler
from auth_service.deps import Clock, Deps
from auth_service.hashing import PasswordHasher
from auth_service.keys import KeyRing
from auth_service.settings import AuthSettings


def bus(ctx: HostContext) -> list[Consumer | Responder]:
    deps: Deps = ctx.app.state.auth
    return [
        Responder(
            names.AUTH_QUERY_QUEUE,
            names.AUTH_REVOCATIONS_QUERY_V1,
            partial(revocations.answer, deps),
        )
    ]


def build(
    settings: AuthSettings | None = None, *, clock: Clock = time.time, connect_bus: bool = True
) -> ServiceHost:
    """Tests pass a clock, and `connect_bus=False` for no broker at all."""
    settings = settings or AuthSettings()

    async def on_start(ctx: HostContext) -> None:
        keyring = KeyRing(settings.keys_dir, read_only=settings.keys_read_only)
        await asyncio.to_thread(keyring.load_or_create)
        hasher = PasswordHasher(
            memory_cost_kib=settings.argon2_memory_cost_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            concurrency=settings.hash_concurrency,
        )
        await hasher.dummy_hash()  # pay for it now, not on the first unknown-user login
        deps = Deps(settings, ctx.require_sessions(), keyring, hasher, clock)
        if ctx.relay is not None:
            deps.notify = ctx.relay.notify
        # Where the routes find them (api/deps.py, api/jwks.py).
        ctx.app.state.auth = deps
        ctx.app.state.keyring = keyring
        await backfill.announce_unversioned(deps)
        ctx.spawn(housekeeping.run(deps), "auth-housekeeping")

    migrate = settings.migrate_on_start
    host = ServiceHost(
        settings,
        title="auth-service",
        routers=[
            auth.router,
            users.router,
            blocks.router,
            jwks.router,
            admin.router,
            admin.invites_router,
        ],
        database=Database(settings.alembic_config() if migrate else None, migrate=migrate),
        outbox=store.outbox,
        bus=bus,
        on_start=on_start,
        connect_bus=connect_bus,
    )
    install_error_handler(host.app)
    install_rate_limits(
        host.app,
        {
            rate_limit.INVITE_CREATE: settings.rate_invite_create,
            rate_limit.PEOPLE_SEARCH: settings.rate_people_search,
        },
    )
    return host
