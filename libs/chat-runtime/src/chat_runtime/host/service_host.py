"""`ServiceHost`: the lifespan every service shares (docs/architecture.md, "Service host")."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI

from chat_runtime.host.bus import HostBus
from chat_runtime.host.context import HostContext
from chat_runtime.host.spec import BusTable, Database
from chat_runtime.http import MAX_BODY_BYTES, create_app
from chat_runtime.logging import get_logger
from chat_runtime.metrics import track_pool, watch_event_loop
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.tracing import instrument_database

if TYPE_CHECKING:
    import sqlalchemy as sa

log = get_logger("chat_runtime.host")

Hook = Callable[[HostContext], Awaitable[None]]
SHUTDOWN_DRAIN_S = 5.0


class ServiceHost:
    """Declare a service; `host.app` is its ASGI app (start/stop are the app's lifespan)."""

    def __init__(
        self,
        settings: BaseServiceSettings,
        *,
        title: str,
        routers: Sequence[APIRouter] = (),
        database: Database | None = None,
        outbox: sa.Table | None = None,
        verify_tokens: bool = False,
        revocations_queue: bool = True,
        bus: Callable[[HostContext], BusTable] | None = None,
        on_start: Hook | None = None,
        on_stop: Hook | None = None,
        on_reconnect: Hook | None = None,
        on_disconnect: Callable[[HostContext], None] | None = None,
        verifier: Any | None = None,
        connect_bus: bool = True,
        connection_name: str | None = None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        if outbox is not None and database is None:
            raise ValueError("an outbox needs the service's database")
        self.settings = settings
        self.database = database
        self.outbox = outbox
        self.verify_tokens = verify_tokens
        self.revocations_queue = revocations_queue
        self.bus_table = bus
        self.on_start = on_start
        self.on_stop = on_stop
        self.on_reconnect = on_reconnect
        self.on_disconnect = on_disconnect
        self.fake_verifier = verifier
        self.connect_bus = connect_bus
        self.connection_name = connection_name
        self.app = create_app(settings, title=title, lifespan=self._lifespan, max_body=max_body)
        for router in routers:
            self.app.include_router(router)
        self.context: HostContext | None = None

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        ctx = HostContext(self.settings, app)
        app.state.host = ctx
        self.context = ctx
        bus: HostBus | None = None
        try:
            await self._open_database(ctx)
            self._open_tokens(ctx)
            if self.connect_bus:
                bus = self._open_bus(ctx)
            if self.on_start is not None:
                await self.on_start(ctx)
            ctx.spawn(watch_event_loop(), "event-loop-lag")  # chat_event_loop_lag_seconds
            ctx.readiness.add("tasks", _always(ctx.tasks_alive))
            if bus is not None:
                table = self.bus_table(ctx) if self.bus_table is not None else []
                bus.start(table)
                ctx.readiness.add("broker", _always(bus.broker.is_ready))
                ctx.readiness.add("consumers", _always(bus.consumers_running))
            if ctx.revocations is not None:
                revocations = ctx.revocations
                ctx.readiness.add("revocations", _always(lambda: revocations.current))
            _freeze_startup_objects()
            log.info("service_started", service=self.settings.service_name, bus=bus is not None)
            yield
        finally:
            await self._close(ctx, bus)

    async def _open_database(self, ctx: HostContext) -> None:
        if self.database is None:
            return
        from chat_runtime.db import (  # only services with a database import SQLAlchemy
            create_engine,
            database_check,
            ensure_database,
            session_factory,
        )

        url: str = self.settings.database_url  # type: ignore[attr-defined]
        tls = self.settings.database_ssl_context()  # CHAT_DATABASE_CA_FILE
        if self.database.migrate and self.database.alembic_ini is not None:
            await ensure_database(url, ssl=tls)
        options: dict[str, Any] = {}
        if self.database.application_name:
            server_settings = {"application_name": self.database.application_name}
            options["connect_args"] = {"server_settings": server_settings}
        ctx.engine = create_engine(url, ssl=tls, **options)
        track_pool(ctx.engine)  # chat_db_pool_connections, read at scrape time
        instrument_database(ctx.engine)  # statement spans when tracing exports
        if self.database.migrate and self.database.alembic_ini is not None:
            # Replicas starting together (and migration Jobs) migrate one after the other.
            from chat_runtime.migrate import migrate_under_lock

            alembic_ini = str(self.database.alembic_ini)
            await migrate_under_lock(
                ctx.engine, alembic_ini, url, self.settings.service_name, ssl=tls
            )
        ctx.sessions = session_factory(ctx.engine)
        ctx.readiness.add("database", database_check(ctx.engine))

    def _open_tokens(self, ctx: HostContext) -> None:
        if not self.verify_tokens:
            return
        from chat_runtime.tokens import RevocationSet, TokenVerifier, revocation_handler

        if self.fake_verifier is not None:
            ctx.verifier = self.fake_verifier
            return
        # Fails closed: not current until loaded from auth-service (HostBus).
        ctx.revocations = RevocationSet(current=not self.connect_bus)
        ctx.verifier = TokenVerifier(
            self.settings.jwks_url,
            revocations=ctx.revocations,
            verify=self.settings.jwks_verify(),  # CHAT_JWKS_CA_FILE
        )
        ctx.revocation_handler = revocation_handler(ctx.revocations)

    def _open_bus(self, ctx: HostContext) -> HostBus:
        from chat_runtime.messaging import Broker

        ctx.broker = Broker(
            self.settings.amqp_url,
            service=self.settings.service_name,
            connection_name=self.connection_name,
            ssl_context=self.settings.amqp_ssl_context(),  # CHAT_AMQP_CA_FILE
        )
        if self.outbox is not None:
            from chat_runtime.messaging.outbox import OutboxRelay

            ctx.relay = OutboxRelay(ctx.require_sessions(), self.outbox, ctx.broker)
        return HostBus(
            ctx,
            ctx.broker,
            revocations_queue=self.revocations_queue,
            on_reconnect=self.on_reconnect,
            on_disconnect=self.on_disconnect,
        )

    async def _close(self, ctx: HostContext, bus: HostBus | None) -> None:
        """Consumers first (in-flight work commits, nothing unfinished is acked), then the
        service's own stop, then the relay publishes what was committed, then the rest."""
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        if bus is not None:
            steps.append(("consumers", bus.stop))
        if self.on_stop is not None:
            on_stop = self.on_stop
            steps.append(("on_stop", lambda: on_stop(ctx)))
        steps.append(("tasks", ctx.cancel_tasks))
        if ctx.relay is not None:
            relay = ctx.relay
            steps.append(("relay", lambda: relay.stop(drain_timeout_s=SHUTDOWN_DRAIN_S)))
        if ctx.broker is not None:
            steps.append(("broker", ctx.broker.close))
        aclose = getattr(ctx.verifier, "aclose", None)
        if aclose is not None and ctx.verifier is not self.fake_verifier:
            steps.append(("verifier", aclose))
        if ctx.engine is not None:
            steps.append(("database", ctx.engine.dispose))
        for name, step in steps:
            try:
                await step()
            except Exception:
                log.exception("service_stop_step_failed", step=name)
        log.info("service_stopped", service=self.settings.service_name)


_frozen = False


def _freeze_startup_objects() -> None:
    """Move what start-up made (modules, classes, functions, settings: most of the heap) out of
    the collector's reach, once per process. A full collection then walks only what the
    service made since, instead of pausing every service for 60-120 ms every few seconds under
    load (measured: the messaging benchmark's delivery p99 spikes, docs/performance.md)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()


def _always(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return bool(check())

    return run


__all__ = ["ServiceHost"]
