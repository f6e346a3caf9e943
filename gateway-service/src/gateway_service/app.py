"""Composition root: settings, broker, token verifier, the Gateway and the FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from chat_runtime.http import create_app
from chat_runtime.logging import get_logger
from chat_runtime.messaging import Broker, Envelope
from chat_runtime.tokens import (
    InvalidToken,
    RevocationSet,
    TokenVerifier,
    load_revocations,
    revocation_handler,
)
from fastapi import FastAPI
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from gateway_service.api.ws import WS_PATH, serve_websocket
from gateway_service.bus import AmqpGatewayBus, event_handlers
from gateway_service.hub import Gateway
from gateway_service.keepalive import KeepaliveSweeper
from gateway_service.metrics import CONNECTIONS
from gateway_service.ports import (
    Claims,
    EventHandler,
    GatewayBus,
    Unauthorized,
    Unavailable,
    Verifier,
)
from gateway_service.settings import GatewaySettings

log = get_logger(__name__)

REVOCATIONS_LOAD_TIMEOUT_S = 5.0


class RuntimeVerifier:
    """Adapts chat_runtime's TokenVerifier to the gateway's Verifier port."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def verify(self, token: str) -> Claims:
        try:
            return await self._verifier.verify(token)
        except InvalidToken as exc:
            if exc.reason == "keys_unavailable":
                # auth-service's JWKS is unreachable: the token may be fine, so let it retry.
                raise Unavailable("signing keys unavailable") from exc
            raise Unauthorized(exc.reason) from exc

    async def aclose(self) -> None:
        await self._verifier.aclose()


def create_gateway_app(
    settings: GatewaySettings | None = None,
    *,
    bus: GatewayBus | None = None,
    verifier: Verifier | None = None,
    keepalive: KeepaliveSweeper | None = None,
) -> GatewayApp:
    """The app; tests pass a fake `bus` and `verifier`, production builds both from settings.

    `keepalive` is the sweep behind the server's WebSocket protocol class (keepalive.py); the
    lifespan runs its task.
    """
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        broker: Broker | None = None
        extra: dict[str, EventHandler] = {}
        revocations: RevocationSet | None = None
        the_bus = bus
        the_verifier = verifier
        if the_bus is None:
            broker = Broker(
                settings.amqp_url,
                service=settings.service_name,
                connection_name=f"{settings.service_name}:{settings.gateway_id}",
            )
            await broker.connect()
            the_bus = AmqpGatewayBus(
                broker, gateway_id=settings.gateway_id, send_shards=settings.send_shards
            )
        if the_verifier is None:
            revocations = RevocationSet()
            token_verifier = TokenVerifier(settings.jwks_url, revocations=revocations)
            the_verifier = RuntimeVerifier(token_verifier)
            feed = revocation_handler(revocations)

            async def feed_revocation(body: dict[str, Any]) -> None:
                await feed(
                    Envelope(
                        type_name="auth.session.revoked.v1",
                        body=body,
                        message_id=None,
                        correlation_id=None,
                        headers={},
                        routing_key="auth.session.revoked.v1",
                    )
                )

            extra["auth.session.revoked.v1"] = feed_revocation

        gateway = Gateway(settings, the_bus, the_verifier)
        app.state.gateway = gateway
        app.state.broker = broker
        CONNECTIONS.set_function(lambda: len(gateway.sessions))
        # The bus first: it declares the exchanges the gateway's background tasks publish to.
        await the_bus.start(event_handlers(gateway, extra))
        await gateway.start()
        if keepalive is not None:
            keepalive.start()
        the_bus.on_reconnect(gateway.resync)
        loader: asyncio.Task[None] | None = None
        if broker is not None and revocations is not None:
            loader = asyncio.create_task(_load_revocations(broker, revocations))
        app.state.readiness.add("broker", _ready_check(the_bus))
        log.info("gateway_started", gateway_id=settings.gateway_id)
        try:
            yield
        finally:
            if loader is not None:
                loader.cancel()
            if keepalive is not None:
                await keepalive.stop()
            await gateway.stop()
            await the_bus.stop()
            if broker is not None:
                await broker.close()
            if isinstance(the_verifier, RuntimeVerifier):
                await the_verifier.aclose()

    return GatewayApp(create_app(settings, title="gateway-service", lifespan=lifespan))


class GatewayApp:
    """The ASGI entry point: `/v1/ws` goes straight to the session, the rest to FastAPI
    (health, readiness, metrics, lifespan)."""

    def __init__(self, api: FastAPI) -> None:
        self.api = api

    @property
    def state(self) -> State:
        return self.api.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope.get("path") == WS_PATH:
            await serve_websocket(self.api.state.gateway, scope, receive, send)
            return
        await self.api(scope, receive, send)


async def _load_revocations(broker: Broker, revocations: RevocationSet) -> None:
    """Ask auth-service for recent revocations until it answers.

    In the background so the gateway does not wait for auth-service to start; revocations that
    happen meanwhile arrive live on the gateway queue anyway.
    """
    delay = 1.0
    while True:
        try:
            count = await load_revocations(broker, revocations, timeout=REVOCATIONS_LOAD_TIMEOUT_S)
        except Exception as exc:
            log.warning("revocations_not_loaded", error=repr(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        else:
            log.info("revocations_loaded", sessions=count)
            return


def _ready_check(bus: GatewayBus) -> Any:
    async def check() -> bool:
        return bus.is_ready()

    return check
