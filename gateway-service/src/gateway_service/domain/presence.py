"""Presence subscriptions: which local sockets want which users' `presence` frames."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class SubscriptionIndex:
    _by_connection: dict[str, frozenset[str]] = field(default_factory=dict)
    _by_user: dict[str, set[str]] = field(default_factory=dict)

    def replace(self, connection_id: str, user_ids: Iterable[str]) -> None:
        """The socket's new list replaces its previous one (api-v1 `presence.subscribe`)."""
        self.remove(connection_id)
        wanted = frozenset(user_ids)
        if not wanted:
            return
        self._by_connection[connection_id] = wanted
        for user_id in wanted:
            self._by_user.setdefault(user_id, set()).add(connection_id)

    def remove(self, connection_id: str) -> None:
        for user_id in self._by_connection.pop(connection_id, frozenset()):
            subs = self._by_user.get(user_id)
            if subs is not None:
                subs.discard(connection_id)
                if not subs:
                    del self._by_user[user_id]

    def subscribers(self, user_id: str) -> list[str]:
        return list(self._by_user.get(user_id, ()))

    def subscriptions(self, connection_id: str) -> frozenset[str]:
        return self._by_connection.get(connection_id, frozenset())
