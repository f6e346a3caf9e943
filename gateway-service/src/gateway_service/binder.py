"""The ordered worker that applies the gateway queue's bind/unbind operations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from chat_runtime.logging import get_logger

from gateway_service.domain.registry import BindingChange
from gateway_service.ports import GatewayBus, Unavailable

log = get_logger(__name__)


class Binder:
    """Applies bind/unbind operations strictly in the order the registry produced them.

    An unbind followed by a bind of the same key (last member left, another joined) must reach
    the broker in that order, so one worker performs them one after another.
    """

    def __init__(self, bus: GatewayBus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[tuple[str, str, asyncio.Future[None]]] = asyncio.Queue()
        self._in_flight: dict[str, asyncio.Future[None]] = {}

    def submit(self, change: BindingChange) -> list[asyncio.Future[None]]:
        """Queue the change; the futures resolve once each bind is confirmed."""
        loop = asyncio.get_running_loop()
        for key in change.unbind:
            fut: asyncio.Future[None] = loop.create_future()
            self._queue.put_nowait(("unbind", key, fut))
        binds = []
        for key in change.bind:
            fut = loop.create_future()
            self._in_flight[key] = fut
            self._queue.put_nowait(("bind", key, fut))
            binds.append(fut)
        return binds

    def in_flight(self, keys: Iterable[str]) -> list[asyncio.Future[None]]:
        """The binds of `keys` still waiting for the broker (another socket asked for them)."""
        return [f for k in keys if (f := self._in_flight.get(k)) is not None and not f.done()]

    async def run(self) -> None:
        """The worker (one task per process, until cancelled)."""
        while True:
            op, key, fut = await self._queue.get()
            try:
                if op == "bind":
                    await self._bus.bind(key)
                else:
                    await self._bus.unbind(key)
            except Exception as exc:
                log.warning("binding_failed", op=op, key=key, error=repr(exc))
                if not fut.done():
                    fut.set_exception(Unavailable(f"{op} {key} failed"))
                    fut.exception()  # mark retrieved: nobody may be waiting for an unbind
            else:
                if not fut.done():
                    fut.set_result(None)
            finally:
                if self._in_flight.get(key) is fut:
                    del self._in_flight[key]
