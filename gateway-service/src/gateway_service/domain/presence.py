"""Presence subscriptions: which local sockets want which users' `presence` frames.

A socket wants either a list of users (api-v1 `presence.subscribe` `user_ids`) or every user
(api-v1.1 C "Online now", `{"all": true}`), never both: each subscribe replaces the previous one.

`all` is capped: such a socket gets the changes of at most `cap` distinct users, and one
`presence.truncated` when a change of a further user is dropped for it. The admitted users are
kept per *cohort*, not per socket: the `all` sockets that subscribed while the newest cohort still
had room share its admitted set (the first `cap` distinct users that cohort forwarded); a socket
that subscribes once that set is full starts a new cohort. So memory is O(cap) per cohort and
O(1) per socket (10 000 sockets x 5 000 users each would not fit the gateway's per-socket
budget), and a change costs one set lookup per live cohort plus the writes themselves. A
workspace with fewer than `cap` users has one cohort, and nothing is ever dropped. The price: a
socket that joins a cohort with users already admitted may be told `presence.truncated` before
it has itself received `cap` users (it still never receives more than `cap`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(eq=False, slots=True)
class _Cohort:
    """`all` sockets sharing one admitted set of at most `cap` users."""

    cap: int
    sockets: set[str] = field(default_factory=set)
    admitted: set[str] = field(default_factory=set)
    truncated: bool = False  # the sockets were told (a further user's change was dropped)

    @property
    def full(self) -> bool:
        return len(self.admitted) >= self.cap


@dataclass(frozen=True, slots=True)
class Truncation:
    """These sockets get `presence.truncated` with `limit` now (once per subscription)."""

    limit: int
    connection_ids: list[str]


@dataclass(frozen=True, slots=True)
class Fanout:
    """Who hears one user's presence change: the `presence` frame, and maybe a truncation."""

    forward: list[str]
    truncations: list[Truncation]


@dataclass
class SubscriptionIndex:
    _by_connection: dict[str, frozenset[str]] = field(default_factory=dict)
    _by_user: dict[str, set[str]] = field(default_factory=dict)
    _cohort_of: dict[str, _Cohort] = field(default_factory=dict)
    _cohorts: list[_Cohort] = field(default_factory=list)  # oldest first; the last takes joiners

    def replace(self, connection_id: str, user_ids: Iterable[str]) -> None:
        """The socket's new list replaces its previous one, `all` included (api-v1
        `presence.subscribe`)."""
        self.remove(connection_id)
        wanted = frozenset(user_ids)
        if not wanted:
            return
        self._by_connection[connection_id] = wanted
        for user_id in wanted:
            self._by_user.setdefault(user_id, set()).add(connection_id)

    def subscribe_all(self, connection_id: str, cap: int) -> None:
        """The socket wants every user's changes, for at most `cap` distinct users."""
        if cap < 1:
            raise ValueError("the cap is at least one user")
        self.remove(connection_id)
        cohort = self._cohorts[-1] if self._cohorts else None
        if cohort is None or cohort.full or cohort.cap != cap:
            cohort = _Cohort(cap)
            self._cohorts.append(cohort)
        cohort.sockets.add(connection_id)
        self._cohort_of[connection_id] = cohort

    def remove(self, connection_id: str) -> None:
        for user_id in self._by_connection.pop(connection_id, frozenset()):
            subs = self._by_user.get(user_id)
            if subs is not None:
                subs.discard(connection_id)
                if not subs:
                    del self._by_user[user_id]
        cohort = self._cohort_of.pop(connection_id, None)
        if cohort is not None:
            cohort.sockets.discard(connection_id)
            if not cohort.sockets:
                self._cohorts.remove(cohort)

    def changed(self, user_id: str) -> Fanout:
        """A user's presence changed: who gets the frame (admitting the user into every cohort
        with room left) and which `all` sockets are told now that their cap is reached."""
        forward = list(self._by_user.get(user_id, ()))
        truncations: list[Truncation] = []
        for cohort in self._cohorts:
            if user_id in cohort.admitted:
                forward.extend(cohort.sockets)
            elif not cohort.full:
                cohort.admitted.add(user_id)
                forward.extend(cohort.sockets)
            elif not cohort.truncated:
                cohort.truncated = True
                truncations.append(Truncation(cohort.cap, list(cohort.sockets)))
        return Fanout(forward, truncations)

    def subscribers(self, user_id: str) -> list[str]:
        """The sockets that listed `user_id` (`all` sockets not included)."""
        return list(self._by_user.get(user_id, ()))

    def subscriptions(self, connection_id: str) -> frozenset[str]:
        return self._by_connection.get(connection_id, frozenset())

    def wants_all(self, connection_id: str) -> bool:
        return connection_id in self._cohort_of

    def cohorts(self) -> int:
        """How many admitted sets are kept (a gauge of the memory `all` costs)."""
        return len(self._cohorts)
