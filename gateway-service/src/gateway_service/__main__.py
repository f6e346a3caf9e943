"""`python -m gateway_service`: run the gateway with uvicorn on CHAT_HOST:CHAT_PORT (8002)."""

from __future__ import annotations

import resource

import uvicorn
from chat_runtime.logging import configure_logging
from chat_runtime.tracing import configure_tracing

from gateway_service.app import create_gateway_app
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
    uvicorn.run(
        create_gateway_app(settings),
        host=settings.host,
        port=settings.port,
        # api-v1 §6: ping every 25 s, drop peers that do not answer; no compression by default;
        # frames above 64 KiB close the socket with 1009.
        ws_ping_interval=settings.ws_heartbeat_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_frame_bytes,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
