"""What a running service's parts share: settings, database, broker, relay, verifier, tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from chat_runtime.http import Readiness
from chat_runtime.logging import get_logger
from chat_runtime.settings import BaseServiceSettings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from chat_runtime.messaging import Broker, ConsumerHandle
    from chat_runtime.messaging.outbox import OutboxRelay
    from chat_runtime.tokens import RevocationSet

log = get_logger("chat_runtime.host")


class HostContext:
    """Built by the host in its lifespan; `app.state.host` points at it.

    Service objects made in `on_start` go on `state`. Attributes the service did not ask for
    stay None (no database: `engine`/`sessions`; `connect_bus=False`: `broker`/`relay`)."""

    def __init__(self, settings: BaseServiceSettings, app: FastAPI) -> None:
        self.settings = settings
        self.app = app
        self.state = SimpleNamespace()
        self.readiness: Readiness = app.state.readiness
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker[AsyncSession] | None = None
        self.broker: Broker | None = None
        self.relay: OutboxRelay | None = None
        self.revocations: RevocationSet | None = None
        # TokenVerifier, or the fake a test passed (anything with `async verify(token)`).
        self.verifier: Any = None
        self.revocation_handler: Any = None  # Handler for auth.session.revoked.v1
        # Set once connected, topology declared, consumers running and revocations loaded.
        self.bus_ready = asyncio.Event()
        # The running handles of the named consumers (`Consumer(name=...)`).
        self.consumers: dict[str, ConsumerHandle] = {}
        self._tasks: list[asyncio.Task[Any]] = []

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A background task of the service: cancelled at stop; readiness fails if it ends."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_end)
        self._tasks.append(task)
        return task

    def tasks_alive(self) -> bool:
        return all(not task.done() for task in self._tasks)

    async def cancel_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    def consumer(self, name: str) -> ConsumerHandle | None:
        """The running handle of the consumer named `name`; None while the bus is not up."""
        return self.consumers.get(name)

    def require_sessions(self) -> async_sessionmaker[AsyncSession]:
        if self.sessions is None:
            raise RuntimeError("this service has no database")
        return self.sessions


def _log_end(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("service_task_failed", task=task.get_name(), error=repr(error))
