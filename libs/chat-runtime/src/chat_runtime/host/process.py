"""One way to run a service process: logging and tracing first, then uvicorn on its port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import uvicorn

from chat_runtime.logging import configure_logging
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.tracing import configure_tracing

# Long enough for in-flight batches to commit and the relay to publish them (its drain is 5 s).
GRACEFUL_SHUTDOWN_S = 20


def serve(settings: BaseServiceSettings, build: Callable[[], Any], **uvicorn_options: Any) -> None:
    """Configure the process, build the ASGI app with `build()` (after logging is set up, so
    start-up logs are JSON too) and serve it on `settings.host:settings.port` until SIGTERM."""
    configure_logging(settings.service_name, settings.version, settings.log_level)
    configure_tracing(settings.service_name, settings.version, settings.otel_exporter)
    options: dict[str, Any] = {
        "log_config": None,  # structlog owns the output
        "access_log": False,  # the runtime logs each request once (`http_request`)
        "proxy_headers": False,  # client_address() decides whom to believe
        "lifespan": "on",
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    options.update(uvicorn_options)
    uvicorn.run(build(), host=settings.host, port=settings.port, **options)
