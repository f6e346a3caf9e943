"""Draining before a stop (api-v1.1 F): every socket is told when to come back and closed then.

On SIGTERM (`chat_runtime.host.serve(..., drain=...)`) the gateway stops being ready (so no new
socket is routed to it), sends each open socket `{"type":"reconnect","after_ms":N}` and closes it
with 1012 N ms later. The Ns are spread evenly, in random order, over the drain period, so the
clients of a gateway that stops (a rollout, a scale-in, a node drain) come back to the other
gateways a few at a time instead of all in the same second; each socket keeps receiving its
events until its own moment, and a client that missed something catches up with `after_seq` as
after any reconnect.

The drain period is `sockets / CHAT_DRAIN_RECONNECTS_PER_S`, at most `CHAT_DRAIN_MAX_S`: a
gateway with a handful of sockets stops at once, one with 10 000 takes the whole period. A socket
that signs in while the gateway drains gets `reconnect` with a short delay and 1012 at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Protocol

from chat_runtime.logging import get_logger

from gateway_service.domain.close_codes import CLOSE_SERVICE_RESTART
from gateway_service.domain.frames import reconnect_frame
from gateway_service.metrics import CLOSED
from gateway_service.ports import SessionPort

log = get_logger(__name__)

# A socket that arrives while the gateway drains comes back within this many milliseconds.
LATE_SOCKET_MAX_MS = 1000
# After the last close, how long the sockets get to write their close frames.
CLOSE_WAIT_S = 5.0
CLOSE_REASON = "server draining"


def drain_period_s(sockets: int, max_s: float, reconnects_per_s: float) -> float:
    """How long the drain takes: the reconnect rate the other gateways can take, capped."""
    if sockets <= 1 or max_s <= 0:
        return 0.0
    return min(max_s, sockets / reconnects_per_s)


def spread_ms(count: int, period_s: float, rng: random.Random) -> list[int]:
    """One delay per socket: evenly spaced over [0, period), each jittered within its slot,
    handed out in random order (no socket is always first)."""
    if count <= 0:
        return []
    slot = period_s * 1000.0 / count
    delays = [int((i + rng.random()) * slot) for i in range(count)]
    rng.shuffle(delays)
    return delays


class Sockets(Protocol):
    """What the drain needs of the gateway (hub.Gateway): its sessions by connection id."""

    @property
    def sessions(self) -> dict[str, SessionPort]: ...


class Drainer:
    """The drain of one gateway process (at most one; later calls wait for the first)."""

    def __init__(
        self,
        gateway: Sockets,
        *,
        max_s: float,
        reconnects_per_s: float,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gateway = gateway
        self.max_s = max_s
        self.reconnects_per_s = reconnects_per_s
        self.rng = rng or random.Random()
        self.monotonic = monotonic
        self.draining = False
        self.scheduled: set[str] = set()  # connection ids told when to come back
        self._done: asyncio.Event | None = None

    async def drain(self) -> None:
        """Tell every socket when to reconnect, close each at its moment (1012), and return once
        they are closed (or CLOSE_WAIT_S after the last moment)."""
        if self._done is not None:
            await self._done.wait()
            return
        self._done = asyncio.Event()
        self.draining = True
        try:
            await self._drain()
        finally:
            self._done.set()

    async def _drain(self) -> None:
        gw = self.gateway
        sessions = list(gw.sessions.values())
        period = drain_period_s(len(sessions), self.max_s, self.reconnects_per_s)
        delays = spread_ms(len(sessions), period, self.rng)
        started = self.monotonic()
        log.info("gateway_draining", sockets=len(sessions), period_s=round(period, 3))
        plan = sorted(zip(delays, sessions, strict=True), key=lambda item: item[0])
        for delay, session in plan:
            self.scheduled.add(session.connection_id)
            session.output.send(reconnect_frame(delay))
        for delay, session in plan:
            wait = started + delay / 1000.0 - self.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._close(session)
        deadline = self.monotonic() + CLOSE_WAIT_S
        # Sockets that signed in meanwhile were told to go (`late`); wait for every close. (A
        # poll: sessions end in many places, none of which should know about a drain.)
        while gw.sessions and self.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        log.info(
            "gateway_drained",
            sockets=len(sessions),
            left=len(gw.sessions),
            seconds=round(self.monotonic() - started, 3),
        )

    def late(self, session: SessionPort) -> bool:
        """A socket that signed in during the drain and is not in its plan: sent away now with
        a short delay. False when the gateway is not draining (or the socket is planned)."""
        if not self.draining or session.connection_id in self.scheduled:
            return False
        self.scheduled.add(session.connection_id)
        session.output.send(reconnect_frame(self.rng.randrange(LATE_SOCKET_MAX_MS)))
        self._close(session)
        return True

    @staticmethod
    def _close(session: SessionPort) -> None:
        if not session.output.closing:
            CLOSED.labels("draining").inc()
        session.output.close(CLOSE_SERVICE_RESTART, CLOSE_REASON)
