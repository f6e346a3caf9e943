"""The presence aggregate: every connection on every gateway, and the status derived from them.

Pure: no I/O, no clock of its own. Every method that depends on time takes `now` (epoch seconds),
so tests drive it with a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

ConnectionStatus = Literal["online", "away"]
Status = Literal["online", "away", "offline"]


@dataclass(frozen=True, slots=True)
class HeartbeatConnection:
    connection_id: str
    user_id: str
    status: ConnectionStatus


@dataclass(frozen=True, slots=True)
class Presence:
    user_id: str
    status: Status
    last_seen_at: float | None
    connections: int


def derive_status(statuses: Iterable[ConnectionStatus]) -> Status:
    """online if any connection is online, away if all are away, offline when none remain."""
    seen_any = False
    for status in statuses:
        if status == "online":
            return "online"
        seen_any = True
    return "away" if seen_any else "offline"


class PresenceState:
    """Connections by gateway, indexed by user; remembers which users may have changed (`dirty`)."""

    def __init__(self, *, silence_s: float) -> None:
        self.silence_s = silence_s
        self._gateways: dict[str, dict[str, tuple[str, ConnectionStatus]]] = {}
        self._heard: dict[str, float] = {}
        self._by_user: dict[str, dict[tuple[str, str], ConnectionStatus]] = {}
        self._last_seen: dict[str, float] = {}
        # Users some signal has told us about since start: their status is known, not guessed.
        self._known: set[str] = set()
        self._dirty: set[str] = set()

    # --- signals -------------------------------------------------------------------------------

    def connection_opened(
        self,
        gateway_id: str,
        connection_id: str,
        user_id: str,
        status: ConnectionStatus,
        now: float,
    ) -> None:
        """Also used for `updated`: both say "this connection exists with this status"."""
        self._hear(gateway_id, now)
        self._known.add(user_id)
        self._put(gateway_id, connection_id, user_id, status)

    connection_updated = connection_opened

    def connection_closed(
        self, gateway_id: str, connection_id: str, user_id: str, now: float
    ) -> None:
        self._hear(gateway_id, now)
        self._known.add(user_id)
        self._remove(gateway_id, connection_id, now)

    def heartbeat(
        self, gateway_id: str, connections: Iterable[HeartbeatConnection], now: float
    ) -> None:
        """The heartbeat is the gateway's full truth: it replaces that gateway's connection set."""
        self._hear(gateway_id, now)
        wanted = {c.connection_id: c for c in connections}
        current = self._gateways.get(gateway_id, {})
        for connection_id in [cid for cid in current if cid not in wanted]:
            self._remove(gateway_id, connection_id, now)
        for c in wanted.values():
            self._known.add(c.user_id)
            self._put(gateway_id, c.connection_id, c.user_id, c.status)

    # --- time ----------------------------------------------------------------------------------

    def expire_silent_gateways(self, now: float) -> list[str]:
        """Drop every connection of gateways not heard for `silence_s`; returns those gateways."""
        dead = [gw for gw, heard in self._heard.items() if now - heard >= self.silence_s]
        for gateway_id in dead:
            heard = self._heard.pop(gateway_id)
            for connection_id in list(self._gateways.get(gateway_id, {})):
                # The user was last seen when the gateway last spoke, not when we noticed it died.
                self._remove(gateway_id, connection_id, heard)
            self._gateways.pop(gateway_id, None)
        return dead

    def restart_silence_timers(self, now: float) -> None:
        """Our own broker link was down: the gateways' silence was ours, not theirs."""
        for gateway_id in self._heard:
            self._heard[gateway_id] = now

    # --- queries -------------------------------------------------------------------------------

    def status_of(self, user_id: str) -> Status:
        return derive_status(self._by_user.get(user_id, {}).values())

    def presence_of(self, user_id: str, now: float) -> Presence:
        conns = self._by_user.get(user_id, {})
        status = derive_status(conns.values())
        last_seen = now if conns else self._last_seen.get(user_id)
        return Presence(user_id, status, last_seen, len(conns))

    def last_seen(self, user_id: str) -> float | None:
        return self._last_seen.get(user_id)

    def is_known(self, user_id: str) -> bool:
        return user_id in self._known

    def connected_count(self) -> int:
        return len(self._by_user)

    def connected_users(self) -> list[str]:
        return list(self._by_user)

    def gateways(self) -> list[str]:
        return list(self._heard)

    def mark_dirty(self, user_ids: Iterable[str]) -> None:
        self._dirty.update(user_ids)

    def take_dirty(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    # --- internals -----------------------------------------------------------------------------

    def _hear(self, gateway_id: str, now: float) -> None:
        # max(): a late-arriving signal must not move the timer backwards.
        self._heard[gateway_id] = max(now, self._heard.get(gateway_id, now))
        self._gateways.setdefault(gateway_id, {})

    def _put(
        self, gateway_id: str, connection_id: str, user_id: str, status: ConnectionStatus
    ) -> None:
        conns = self._gateways.setdefault(gateway_id, {})
        previous = conns.get(connection_id)
        if previous == (user_id, status):
            return
        if previous is not None and previous[0] != user_id:
            # A connection id never changes hands; if it did, the newest word wins.
            self._unindex(previous[0], gateway_id, connection_id, None)
        conns[connection_id] = (user_id, status)
        self._by_user.setdefault(user_id, {})[(gateway_id, connection_id)] = status
        self._dirty.add(user_id)

    def _remove(self, gateway_id: str, connection_id: str, now: float) -> None:
        previous = self._gateways.get(gateway_id, {}).pop(connection_id, None)
        if previous is not None:
            self._unindex(previous[0], gateway_id, connection_id, now)

    def _unindex(
        self, user_id: str, gateway_id: str, connection_id: str, now: float | None
    ) -> None:
        conns = self._by_user.get(user_id)
        if conns is None or conns.pop((gateway_id, connection_id), None) is None:
            return
        if not conns:
            del self._by_user[user_id]
            if now is not None:
                self._last_seen[user_id] = max(now, self._last_seen.get(user_id, now))
        self._dirty.add(user_id)
