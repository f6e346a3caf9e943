"""Sends published but not yet acknowledged: (sender, client_msg_id) → sending connection."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PendingSends:
    # Entries are forgotten after `ttl_s`: an answer that never comes must not grow memory.
    ttl_s: float = 300.0
    _by_key: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    _by_connection: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def add(self, user_id: str, client_msg_id: str, connection_id: str, now: float) -> None:
        key = (user_id, client_msg_id)
        previous = self._by_key.get(key)
        if previous is not None:
            self._forget_for_connection(previous[0], key)
        self._by_key[key] = (connection_id, now)
        self._by_connection.setdefault(connection_id, set()).add(key)

    def pop(self, user_id: str, client_msg_id: str) -> str | None:
        """The connection waiting for this send, removed from the table; None if none waits."""
        entry = self.take(user_id, client_msg_id)
        return None if entry is None else entry[0]

    def take(self, user_id: str, client_msg_id: str) -> tuple[str, float] | None:
        """(waiting connection, when the send was recorded), removed from the table."""
        key = (user_id, client_msg_id)
        entry = self._by_key.pop(key, None)
        if entry is None:
            return None
        self._forget_for_connection(entry[0], key)
        return entry

    def drop_connection(self, connection_id: str) -> None:
        for key in self._by_connection.pop(connection_id, set()):
            self._by_key.pop(key, None)

    def expire(self, now: float) -> int:
        old = [k for k, (_, at) in self._by_key.items() if now - at > self.ttl_s]
        for key in old:
            self.pop(*key)
        return len(old)

    def __len__(self) -> int:
        return len(self._by_key)

    def _forget_for_connection(self, connection_id: str, key: tuple[str, str]) -> None:
        keys = self._by_connection.get(connection_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_connection[connection_id]
