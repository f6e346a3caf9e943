"""Composition root of gateway-service: the service host (no database; tokens verified against
the host's revocation set), the consumer of this process's own queue, and the ASGI router that
sends `/v1/ws` past FastAPI straight to the session (`GatewayApp`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from chat_contracts import names
from chat_runtime.host import Consumer, HostContext, Responder, ServiceHost
from chat_runtime.logging import get_logger
from chat_runtime.messaging import Handler

from gateway_service import events
from gateway_service.api.ws import GatewayApp
from gateway_service.bus import AmqpGatewayBus
from gateway_service.hub import Gateway
from gateway_service.keepalive import KeepaliveSweeper
from gateway_service.metrics import CONNECTIONS
from gateway_service.ports import GatewayBus
from gateway_service.settings import GatewaySettings

log = get_logger(__name__)


def build(
    settings: GatewaySettings | None = None,
    *,
    bus: GatewayBus | None = None,
    verifier: Any | None = None,
    keepalive: KeepaliveSweeper | None = None,
) -> GatewayApp:
    """The gateway's ASGI app. Tests pass a fake `bus` (then no broker connection at all) and
    a fake `verifier`; `keepalive` is the sweep behind the server's WebSocket protocol class
    (keepalive.py), started and stopped with the app."""
    settings = settings or GatewaySettings()

    async def on_start(ctx: HostContext) -> None:
        the_bus = bus
        if the_bus is None:
            assert ctx.broker is not None  # the host connects one when no fake bus is given
            the_bus = ctx.state.amqp = AmqpGatewayBus(ctx.broker, gateway_id=settings.gateway_id)
        gateway = ctx.state.gateway = Gateway(settings, the_bus, ctx.verifier)
        if ctx.revocations is not None:
            ctx.revocations.listeners.append(gateway.close_revoked)  # its sockets close 4401
        CONNECTIONS.set_function(lambda: len(gateway.sessions))
        # Not ready while draining (drain.py): load balancers send new sockets elsewhere.
        ctx.readiness.add("serving", _not_draining(gateway))
        ctx.spawn(gateway.binder.run(), "gateway-binder")
        ctx.spawn(gateway.run_sweep(), "gateway-sweep")
        ctx.spawn(_heartbeat_once_connected(ctx, gateway), "gateway-heartbeat")
        if keepalive is not None:
            keepalive.start()
        log.info("gateway_started", gateway_id=settings.gateway_id)

    def consumers(ctx: HostContext) -> list[Consumer | Responder]:
        # no_ack: the queue is exclusive, so its messages die with this process whether acked
        # or not (a client catches up with `after_seq`); an ack would protect nothing and cost
        # a frame per event each way. Batches of whatever has arrived (no waiting): one consumer
        # span per batch instead of one per event, which was a tenth of the gateway's CPU.
        return [
            Consumer(
                queues=names.gateway_queue(settings.gateway_id),
                handlers=queue_handlers(ctx),
                declare=ctx.state.amqp.declare,
                no_ack=True,
                batch=True,
                prefetch=500,
                max_batch=500,
                max_wait_s=0.0,
            )
        ]

    async def on_reconnect(ctx: HostContext) -> None:
        await ctx.state.gateway.resync()

    async def on_stop(ctx: HostContext) -> None:
        if keepalive is not None:
            await keepalive.stop()
        ctx.state.gateway.close_all()

    host = ServiceHost(
        settings,
        title="gateway-service",
        verify_tokens=True,
        revocations_queue=False,
        bus=consumers,
        on_start=on_start,
        on_stop=on_stop,
        on_reconnect=on_reconnect,
        verifier=verifier,
        connect_bus=bus is None,
        connection_name=f"{settings.service_name}:{settings.gateway_id}",
    )
    return GatewayApp(host.app)


def queue_handlers(ctx: HostContext) -> dict[str, Handler]:
    """What each type on the gateway queue does: events.py, plus revocations."""
    handlers = events.handlers(ctx.state.gateway)
    if ctx.revocation_handler is not None:
        # Revocations come on this queue too (no second queue per process): the host's set
        # records them and tells its listeners, the gateway among them.
        handlers[names.AUTH_SESSION_REVOKED_V1] = ctx.revocation_handler
    return handlers


def _not_draining(gateway: Gateway) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not gateway.drainer.draining

    return check


async def _heartbeat_once_connected(ctx: HostContext, gateway: Gateway) -> None:
    # The first beat goes out as soon as the broker is there, not one interval later.
    await ctx.bus_ready.wait()
    await gateway.presence.run_heartbeat()
