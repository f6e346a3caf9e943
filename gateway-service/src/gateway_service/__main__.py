"""`python -m gateway_service`: run the gateway with uvicorn on CHAT_HOST:CHAT_PORT (8002)."""

from __future__ import annotations

import resource

from chat_runtime.host import serve

from gateway_service.api.ws import GatewayApp
from gateway_service.bootstrap import build
from gateway_service.keepalive import KeepaliveSweeper, keepalive_protocol
from gateway_service.settings import GatewaySettings


def _raise_fd_limit() -> None:
    # Every socket is a descriptor; the default soft limit (1024) would cap connections.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _drain(app: GatewayApp) -> None:
    await app.gateway.drain()


def main() -> None:
    settings = GatewaySettings()
    _raise_fd_limit()
    sweeper = KeepaliveSweeper(
        idle_s=settings.ws_ping_idle_s,
        timeout_s=settings.ws_ping_timeout_s,
        sweep_s=settings.ws_keepalive_sweep_s,
    )
    serve(
        settings,
        lambda: build(settings, keepalive=sweeper),
        # SIGTERM: sockets are told to reconnect elsewhere, spread over the drain (drain.py),
        # then the usual shutdown closes what is left.
        drain=_drain,
        # WebSocket pings come from the process-wide sweep (keepalive.py), not from one uvicorn
        # timer per socket; no compression by default; frames above 64 KiB close with 1009.
        ws=keepalive_protocol(sweeper),
        ws_ping_interval=None,
        ws_ping_timeout=None,
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_frame_bytes,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
