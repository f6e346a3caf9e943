"""One way to run a service process: logging and tracing first, then uvicorn on its port."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import Any

import uvicorn
from uvicorn._compat import asyncio_run

from chat_runtime.logging import configure_logging, get_logger
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.tracing import configure_tracing

# Long enough for in-flight batches to commit and the relay to publish them (its drain is 5 s).
GRACEFUL_SHUTDOWN_S = 20
STARTUP_FAILURE = 3  # uvicorn's exit code when the app did not start

log = get_logger("chat_runtime.host")

Drain = Callable[[Any], Awaitable[None]]


def serve(
    settings: BaseServiceSettings,
    build: Callable[[], Any],
    *,
    drain: Drain | None = None,
    **uvicorn_options: Any,
) -> None:
    """Configure the process, build the ASGI app with `build()` (after logging is set up, so
    start-up logs are JSON too) and serve it on `settings.host:settings.port` until SIGTERM.

    `drain(app)`, when given, runs on the first SIGTERM or SIGINT before uvicorn's own graceful
    shutdown begins (the gateway tells its sockets to reconnect elsewhere, spread over time); the
    server keeps serving meanwhile, and a second signal stops it at once."""
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
    app = build()
    listener = tls_listener(settings, app, options)
    if drain is None and listener is None:
        uvicorn.run(app, host=settings.host, port=settings.port, **options)
        return
    config = uvicorn.Config(app, host=settings.host, port=settings.port, **options)
    server = uvicorn.Server(config) if drain is None else DrainingServer(config, lambda: drain(app))
    with contextlib.suppress(KeyboardInterrupt):
        if listener is None:
            server.run()
        else:
            asyncio_run(serve_with(server, listener), loop_factory=config.get_loop_factory())
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class Listener(uvicorn.Server):
    """A second listener of the same app: no lifespan and no signal handlers of its own; it
    stops when the main server has stopped (`serve_with`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def tls_listener(settings: BaseServiceSettings, app: Any, options: dict[str, Any]) -> Any:
    """The TLS listener of CHAT_TLS_PORT (None when unset): the same app, CHAT_TLS_CERT_FILE and
    CHAT_TLS_KEY_FILE, TLS 1.2 or newer (uvicorn's default context)."""
    if settings.tls_port is None:
        return None
    extra = {k: v for k, v in options.items() if k not in ("lifespan", "timeout_graceful_shutdown")}
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.tls_port,
        lifespan="off",
        ssl_certfile=str(settings.tls_cert_file),
        ssl_keyfile=str(settings.tls_key_file),
        **extra,
    )
    return Listener(config)


async def serve_with(server: uvicorn.Server, listener: uvicorn.Server) -> None:
    """Run `server` (lifespan, signals) and `listener` beside it until `server` stops. Until the
    app has started, the listener's requests may fail (the JWKS fetch retries in seconds)."""
    extra = asyncio.create_task(listener.serve(), name="tls-listener")
    try:
        await server.serve()
    finally:
        listener.should_exit = True
        await extra


class DrainingServer(uvicorn.Server):
    """uvicorn's server, except that the first SIGTERM/SIGINT runs `drain()` on the event loop
    while the server keeps serving, and only then starts the usual graceful shutdown. A signal
    before start-up finished, or a second one during the drain, stops at once as uvicorn does."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self.drain_task: asyncio.Task[None] | None = None
        self._drain_signal: int | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        loop = self._loop
        if self._drain_signal is not None or self.should_exit or not self.started or loop is None:
            super().handle_exit(sig, frame)
            return
        self._drain_signal = sig
        # A signal handler runs between two bytecodes of whatever the loop was doing: hand the
        # work to the loop instead of touching its state here.
        loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self.drain_task = asyncio.get_running_loop().create_task(
            self._drain_then_exit(), name="drain-before-shutdown"
        )

    async def _drain_then_exit(self) -> None:
        sig = self._drain_signal if self._drain_signal is not None else signal.SIGTERM
        log.info("drain_started", signal=signal.Signals(sig).name)
        try:
            await self._drain()
        except Exception:
            log.exception("drain_failed")
        finally:
            log.info("drain_finished")
            if not self.should_exit:
                super().handle_exit(sig, None)
