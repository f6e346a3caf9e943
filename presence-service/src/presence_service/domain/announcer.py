"""What has been announced, what must be announced next, and the restart-recovery rules.

Pure: the leader feeds it the announced table it loaded, the state, and `now`; it answers with the
changes to publish. Announcing only the difference between "derived now" and "announced last" is
what makes every change announced once and no flapping reach the bus: a user who closes and
reopens a tab between two flushes was online, and still is, so nothing is said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from presence_service.domain.state import Presence, PresenceState, Status


@dataclass(frozen=True, slots=True)
class Announced:
    status: Status
    last_seen_at: float | None


@dataclass(frozen=True, slots=True)
class Change:
    user_id: str
    status: Status
    last_seen_at: float


@dataclass(frozen=True, slots=True)
class Recovery:
    """After a start, state is empty until every gateway has sent one heartbeat.

    Until `until`, a user the announced table says is online, and about whom no signal has said
    anything yet, is held at the announced status: a restart must not announce offline anyone who
    is still connected.
    """

    started_at: float
    until: float

    def active(self, now: float) -> bool:
        return now < self.until


def held(
    state: PresenceState, announced: Announced | None, user_id: str, recovery: Recovery, now: float
) -> bool:
    return (
        announced is not None
        and announced.status != "offline"
        and recovery.active(now)
        and not state.is_known(user_id)
        and state.status_of(user_id) == "offline"
    )


class Announcer:
    def __init__(
        self,
        announced: Mapping[str, Announced],
        recovery: Recovery,
        *,
        offline_grace_s: float = 0.0,
    ) -> None:
        self._announced: dict[str, Announced] = {
            user: row for user, row in announced.items() if row.status != "offline"
        }
        self.recovery = recovery
        self.offline_grace_s = offline_grace_s
        # Users gone offline less than the grace ago: looked at again on every round.
        self._deferred: set[str] = set()
        # Users whose last announcement was not confirmed: said again whatever was recorded.
        self._unsure: set[str] = set()

    def changes_for(self, state: PresenceState, users: Iterable[str], now: float) -> list[Change]:
        changes: list[Change] = []
        candidates = set(users)
        if self._deferred:
            candidates |= self._deferred
            self._deferred = set()
        unsure, self._unsure = self._unsure, set()
        candidates |= unsure
        for user_id in sorted(candidates):
            announced = self._announced.get(user_id)
            if held(state, announced, user_id, self.recovery, now):
                if user_id in unsure:
                    self._unsure.add(user_id)
                continue
            desired = state.status_of(user_id)
            if desired == (announced.status if announced else "offline") and user_id not in unsure:
                continue
            if desired == "offline":
                # Left while we were down (no signal seen): all we know is "before we started".
                last_seen = state.last_seen(user_id) or self.recovery.started_at
                if now - last_seen < self.offline_grace_s:
                    # A reload closes and reopens within the grace: say nothing yet.
                    self._deferred.add(user_id)
                    if user_id in unsure:
                        self._unsure.add(user_id)
                    continue
            else:
                last_seen = now
            changes.append(Change(user_id, desired, last_seen))
        return changes

    def all_changes(self, state: PresenceState, now: float) -> list[Change]:
        """Full comparison, for a new leader and for the end of the recovery round."""
        users = set(state.connected_users()) | set(self._announced)
        return self.changes_for(state, sorted(users), now)

    def unsure(self, user_ids: Iterable[str]) -> None:
        """These users' last announcement may not have gone out: the next round says it again."""
        self._unsure.update(user_ids)

    def record(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self._unsure.discard(change.user_id)
            if change.status == "offline":
                self._announced.pop(change.user_id, None)
            else:
                self._announced[change.user_id] = Announced(change.status, change.last_seen_at)

    def announced_status(self, user_id: str) -> Status:
        row = self._announced.get(user_id)
        return row.status if row else "offline"


def view(
    state: PresenceState,
    held_rows: Mapping[str, Announced],
    recovery: Recovery,
    user_id: str,
    now: float,
) -> Presence:
    """What a query answers: the state, or during recovery the announced row of a held user."""
    row = held_rows.get(user_id)
    if held(state, row, user_id, recovery, now):
        assert row is not None
        return Presence(user_id, row.status, now, 0)
    return state.presence_of(user_id, now)


def visible_users(
    state: PresenceState, held_rows: Mapping[str, Announced], recovery: Recovery, now: float
) -> list[str]:
    """Everyone online or away right now (held users included while recovering)."""
    users = set(state.connected_users())
    if recovery.active(now):
        users.update(u for u, row in held_rows.items() if row.status != "offline")
    return sorted(users)
