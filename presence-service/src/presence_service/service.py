"""Application layer of one replica: the state, its clock, recovery window, and the queries.

Every replica holds one `PresenceService`: the bus handlers feed it, the HTTP routes read it, the
leader loop (bus.leader.Leader) announces from it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from chat_contracts import types
from chat_runtime.logging import get_logger

from presence_service.domain.announcer import Announced, Recovery, view, visible_users
from presence_service.domain.state import HeartbeatConnection, Presence, PresenceState
from presence_service.metrics import GATEWAYS, PRESENT_USERS, SIGNALS
from presence_service.store import PresenceStore

log = get_logger(__name__)

Clock = Callable[[], float]


def _id(value: str) -> str:
    # UUIDs compare as text here: one spelling for every id, whatever case the sender used.
    return value.lower()


class PresenceService:
    def __init__(
        self,
        store: PresenceStore,
        *,
        silence_s: float,
        recovery_s: float,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.state = PresenceState(silence_s=silence_s)
        self.clock = clock
        self.recovery_s = recovery_s
        now = clock()
        # Until the signal queue is bound, recovery has not begun (`signals_bound` starts it).
        self.recovery = Recovery(started_at=now, until=float("inf"))
        self.held: dict[str, Announced] = {}
        # Set whenever the state may have changed, so the leader flushes at once.
        self.changed = asyncio.Event()
        # When the oldest signal not yet announced was handled (for the announce-delay metric).
        self.pending_since: float | None = None
        # False while our own broker link is down (gateways are not swept meanwhile).
        self.listening = True
        # Set once the signal queue is bound: from then on every signal reaches this replica.
        self.signals_flowing = asyncio.Event()

    async def load_held(self) -> None:
        """Whom the last leader announced online: shown as such until a heartbeat round passes."""
        self.held = await self.store.load_announced()

    def start_recovery(self) -> None:
        """Called once signals reach this replica: one heartbeat round starts now."""
        now = self.clock()
        self.recovery = Recovery(started_at=now, until=now + self.recovery_s)

    def signals_bound(self) -> None:
        """The signal queue is declared and bound: every signal from now on reaches us.

        The first time, the recovery round starts. Every time, we are hearing again: the bus may
        have dropped its link during a failed start, which `broker_lost` noted."""
        if not self.signals_flowing.is_set():
            self.start_recovery()
            self.signals_flowing.set()
        self.broker_reconnected()

    def _signalled(self, type_name: str) -> None:
        SIGNALS.labels(type_name).inc()
        if self.pending_since is None:
            self.pending_since = time.monotonic()
        self.changed.set()

    # --- signals (decoded and validated against their contract by the consumer) ---------

    def connection_opened(
        self, body: types.PresenceConnectionOpenedV1 | types.PresenceConnectionUpdatedV1
    ) -> None:
        self.state.connection_opened(
            _id(body.gateway_id),
            _id(body.connection_id),
            _id(body.user_id),
            body.status,
            self.clock(),
        )
        self._signalled("opened")

    def connection_closed(self, body: types.PresenceConnectionClosedV1) -> None:
        self.state.connection_closed(
            _id(body.gateway_id), _id(body.connection_id), _id(body.user_id), self.clock()
        )
        self._signalled("closed")

    def heartbeat(self, body: types.PresenceGatewayHeartbeatV1) -> None:
        conns = [
            HeartbeatConnection(_id(c.connection_id), _id(c.user_id), c.status)
            for c in body.connections
        ]
        self.state.heartbeat(_id(body.gateway_id), conns, self.clock())
        self._signalled("heartbeat")

    def sweep(self) -> list[str]:
        if not self.listening:
            return []
        dead = self.state.expire_silent_gateways(self.clock())
        PRESENT_USERS.set(self.state.connected_count())
        GATEWAYS.set(len(self.state.gateways()))
        if dead:
            self.changed.set()
        return dead

    async def sweep_forever(self, interval_s: float, hearing: Callable[[], bool]) -> None:
        """Every `interval_s`, drop the connections of gateways silent for too long."""
        while True:
            await asyncio.sleep(interval_s)
            # While our own link is down we hear no one: silence then is ours, not the gateways'.
            if hearing():
                dead = self.sweep()
                if dead:
                    log.warning("presence_gateways_silent", gateways=dead)

    def broker_lost(self) -> None:
        """From now until `broker_reconnected`, silence means nothing: we cannot hear anyone."""
        self.listening = False

    def broker_reconnected(self) -> None:
        self.state.restart_silence_timers(self.clock())
        self.listening = True

    # --- queries --------------------------------------------------------------------------------

    def everyone_present(self) -> list[Presence]:
        now = self.clock()
        return [
            view(self.state, self.held, self.recovery, u, now)
            for u in visible_users(self.state, self.held, self.recovery, now)
        ]

    async def presence_of(self, user_ids: Sequence[str]) -> list[Presence]:
        now = self.clock()
        found = [view(self.state, self.held, self.recovery, u, now) for u in user_ids]
        # Offline users this replica never saw: their last_seen_at is in the database.
        missing = [p.user_id for p in found if p.status == "offline" and p.last_seen_at is None]
        stored = await self.store.last_seen(missing) if missing else {}
        return [
            Presence(p.user_id, p.status, stored.get(p.user_id), 0) if p.user_id in stored else p
            for p in found
        ]
