"""Composition root: settings, database, keys, hasher, broker, outbox relay, responder, routes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from chat_runtime.db import create_engine, ensure_database, run_migrations_async, session_factory
from chat_runtime.http import FieldError, Problem, create_app, problem_response
from chat_runtime.logging import configure_logging, get_logger
from chat_runtime.messaging import Broker, ConsumerHandle
from chat_runtime.messaging.outbox import OutboxRelay
from chat_runtime.messaging.topology import declare_topology
from chat_runtime.tracing import configure_tracing
from fastapi import FastAPI, Request
from fastapi.responses import Response

from auth_service.api import auth as auth_routes
from auth_service.api import jwks as jwks_routes
from auth_service.api import users as users_routes
from auth_service.api.auth import clear_refresh_cookie
from auth_service.bus import QUERY_QUEUE, REVOCATIONS_QUERY, revocations_responder
from auth_service.domain.throttle import retry_after_header
from auth_service.hashing import PasswordHasher
from auth_service.keys import KeyRing
from auth_service.service import (
    AuthError,
    AuthService,
    Clock,
    InvalidCredentials,
    InvalidRefresh,
    TooManyAttempts,
    Unauthorized,
    UsernameTaken,
    ValidationFailed,
    WrongCurrentPassword,
)
from auth_service.settings import AuthSettings
from auth_service.store import outbox

# The source tree (editable install) first, then an image's copy of the service directory.
ALEMBIC_INI_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "alembic.ini",
    Path.cwd() / "auth-service" / "alembic.ini",
    Path.cwd() / "alembic.ini",
)


def alembic_ini(settings: AuthSettings) -> Path:
    if settings.alembic_ini is not None:
        return settings.alembic_ini
    for candidate in ALEMBIC_INI_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise RuntimeError("alembic.ini of auth-service not found; set CHAT_AUTH_ALEMBIC_INI")


BROKER_RETRY_MAX_S = 10.0
HOUSEKEEPING_INTERVAL_S = 600.0

log = get_logger("auth_service")


def problem_for(exc: AuthError) -> Problem:
    """Every refusal of the service layer as a problem with plain words (api-v1 §2, §3)."""
    if isinstance(exc, ValidationFailed):
        errors: list[FieldError] = [
            {"field": e.field, "code": e.code, "message": e.message} for e in exc.errors
        ]
        return Problem(
            422,
            "validation_failed",
            "Some fields need changes; each problem is listed with how to fix it.",
            errors=errors,
        )
    if isinstance(exc, UsernameTaken):
        return Problem(
            409,
            "username_taken",
            "That username is already taken; pick another one.",
            errors=[{"field": "username", "code": "taken", "message": "Pick another username."}],
        )
    if isinstance(exc, TooManyAttempts):
        wait = retry_after_header(exc.retry_after_s)
        return Problem(
            429,
            "too_many_attempts",
            f"Too many attempts. Wait {wait} seconds, then try again.",
            headers={"Retry-After": wait},
        )
    if isinstance(exc, WrongCurrentPassword):
        return Problem(401, "invalid_credentials", "Your current password is not correct.")
    if isinstance(exc, InvalidCredentials):
        # One text for unknown user and wrong password (no account enumeration).
        return Problem(401, "invalid_credentials", "The username or password is not correct.")
    if isinstance(exc, InvalidRefresh):
        return Problem(401, "invalid_refresh", "Your session has ended; please sign in again.")
    if isinstance(exc, Unauthorized):
        return Problem(
            401,
            "unauthorized",
            "Sign in to continue.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Problem(400, "bad_request", "The request could not be completed.")


async def _auth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    response = problem_response(problem_for(exc))
    if isinstance(exc, InvalidRefresh):
        # The cookie is useless now; drop it so the browser stops sending it.
        clear_refresh_cookie(response, request.app.state.settings)
    return response


class BusRunner:
    """Broker side, started in the background so the API serves (and queues events in the
    outbox) while the broker is unreachable; readiness reports it until connected."""

    def __init__(self, settings: AuthSettings, service: AuthService) -> None:
        self.settings = settings
        self.service = service
        self.broker = Broker(settings.amqp_url, service=settings.service_name)
        self.relay = OutboxRelay(service.sessionmaker, outbox, self.broker)
        self.responder: ConsumerHandle | None = None
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="auth-bus")

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.connect()
                break
            except Exception as exc:
                log.warning("broker_connect_failed", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BROKER_RETRY_MAX_S)
        await declare_topology(self.broker.channel, self.settings.send_shards)
        self.relay.start()
        self.service.notify = self.relay.notify
        self.responder = await self.broker.serve(
            QUERY_QUEUE, REVOCATIONS_QUERY, revocations_responder(self.service)
        )
        self.connected.set()
        log.info("bus_ready")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.service.notify = lambda: None
        await self.relay.stop()
        await self.broker.close()

    async def broker_ready(self) -> bool:
        return self.connected.is_set() and self.broker.is_ready()

    async def consumers_ready(self) -> bool:
        return self.responder is not None and self.responder.running and self.relay.running


async def _housekeeping(service: AuthService) -> None:
    while True:
        try:
            counters, sessions = await service.purge()
            if counters or sessions:
                log.info("housekeeping", throttle_counters=counters, sessions=sessions)
        except Exception as exc:  # the database may be down for a while; try again later
            log.warning("housekeeping_failed", error=repr(exc))
        await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)


def create_auth_app(settings: AuthSettings | None = None, *, clock: Clock = time.time) -> FastAPI:
    settings = settings or AuthSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        if settings.migrate_on_start:
            await ensure_database(settings.database_url)
            await run_migrations_async(str(alembic_ini(settings)), settings.database_url)
        engine = create_engine(settings.database_url)
        keyring = KeyRing(settings.keys_dir)
        await asyncio.to_thread(keyring.load_or_create)
        hasher = PasswordHasher(
            memory_cost_kib=settings.argon2_memory_cost_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            concurrency=settings.hash_concurrency,
        )
        await hasher.dummy_hash()  # pay for it now, not on the first unknown-user login
        service = AuthService(settings, session_factory(engine), keyring, hasher, clock=clock)
        bus = BusRunner(settings, service)
        app.state.auth = service
        app.state.keyring = keyring
        app.state.bus = bus

        async def database_ready() -> bool:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True

        app.state.readiness.add("database", database_ready)
        app.state.readiness.add("broker", bus.broker_ready)
        app.state.readiness.add("consumers", bus.consumers_ready)
        bus.start()
        housekeeping = asyncio.create_task(_housekeeping(service), name="auth-housekeeping")
        try:
            yield {}
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            await bus.stop()
            await engine.dispose()

    app = create_app(settings, title="auth-service", lifespan=lifespan)
    app.add_exception_handler(AuthError, _auth_error_handler)
    app.include_router(auth_routes.router)
    app.include_router(users_routes.router)
    app.include_router(jwks_routes.router)
    return app


def main_app() -> FastAPI:
    """Factory for `uvicorn --factory auth_service.app:main_app`."""
    settings = AuthSettings()
    configure_logging(settings.service_name, settings.version, settings.log_level)
    configure_tracing(settings.service_name, settings.version, settings.otel_exporter)
    return create_auth_app(settings)
