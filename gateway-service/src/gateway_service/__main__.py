"""`python -m gateway_service`: run the gateway with uvicorn on CHAT_HOST:CHAT_PORT (8002)."""

from __future__ import annotations

import resource

import uvicorn
from chat_runtime.logging import configure_logging
from chat_runtime.tracing import configure_tracing

from gateway_service.app import create_gateway_app
from gateway_service.keepalive import KeepaliveSweeper, keepalive_protocol
from gateway_service.settings import GatewaySettings


def _raise_fd_limit() -> None:
    # Every socket is a descriptor; the default soft limit (1024) would cap connections.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.version, settings.log_level)
    configure_tracing(settings.service_name, settings.version, settings.otel_exporter)
    _raise_fd_limit()
    sweeper = KeepaliveSweeper(
        idle_s=settings.ws_ping_idle_s,
        timeout_s=settings.ws_ping_timeout_s,
        sweep_s=settings.ws_keepalive_sweep_s,
    )
    uvicorn.run(
        create_gateway_app(settings, keepalive=sweeper),
        host=settings.host,
        port=settings.port,
        # WebSocket pings come from the process-wide sweep (keepalive.py), not from one uvicorn
        # timer per socket; no compression by default; frames above 64 KiB close with 1009.
        ws=keepalive_protocol(sweeper),
        ws_ping_interval=None,
        ws_ping_timeout=None,
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_frame_bytes,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
