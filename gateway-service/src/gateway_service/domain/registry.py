"""Who is connected here, in which rooms, and which broker bindings that requires.

Bindings are reference-counted: `room.<id>.#` exists while at least one local connected user is a
member, `user.<id>.#` while the user has at least one local connection. Every mutating method
returns the binding keys to add or remove, so the caller (bus) can apply them in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chat_contracts import names


def room_key(room_id: str) -> str:
    """The binding that brings every event of a room (`room.<id>.<type>`)."""
    return names.room_key(room_id, "#")


def user_key(user_id: str) -> str:
    """The binding that brings every event for a user (`user.<id>.<type>`)."""
    return names.user_key(user_id, "#")


@dataclass(frozen=True, slots=True)
class BindingChange:
    bind: tuple[str, ...] = ()
    unbind: tuple[str, ...] = ()

    def __add__(self, other: BindingChange) -> BindingChange:
        return BindingChange(self.bind + other.bind, self.unbind + other.unbind)


@dataclass(slots=True)
class ConnectionInfo:
    connection_id: str
    user_id: str
    session_id: str


@dataclass
class Registry:
    connections: dict[str, ConnectionInfo] = field(default_factory=dict)
    user_connections: dict[str, set[str]] = field(default_factory=dict)
    session_connections: dict[str, set[str]] = field(default_factory=dict)
    user_rooms: dict[str, set[str]] = field(default_factory=dict)
    room_users: dict[str, set[str]] = field(default_factory=dict)

    # --- connections ---------------------------------------------------------------------------

    def add_connection(self, connection_id: str, user_id: str, session_id: str) -> BindingChange:
        self.connections[connection_id] = ConnectionInfo(connection_id, user_id, session_id)
        self.session_connections.setdefault(session_id, set()).add(connection_id)
        conns = self.user_connections.setdefault(user_id, set())
        conns.add(connection_id)
        if len(conns) == 1:
            self.user_rooms.setdefault(user_id, set())
            return BindingChange(bind=(user_key(user_id),))
        return BindingChange()

    def remove_connection(self, connection_id: str) -> BindingChange:
        info = self.connections.pop(connection_id, None)
        if info is None:
            return BindingChange()
        self._discard(self.session_connections, info.session_id, connection_id)
        conns = self.user_connections.get(info.user_id)
        if conns is None:
            return BindingChange()
        conns.discard(connection_id)
        if conns:
            return BindingChange()
        del self.user_connections[info.user_id]
        unbind = [user_key(info.user_id)]
        for room_id in sorted(self.user_rooms.pop(info.user_id, set())):
            if self._drop_member(room_id, info.user_id):
                unbind.append(room_key(room_id))
        return BindingChange(unbind=tuple(unbind))

    def change_session(self, connection_id: str, session_id: str) -> None:
        info = self.connections[connection_id]
        self._discard(self.session_connections, info.session_id, connection_id)
        info.session_id = session_id
        self.session_connections.setdefault(session_id, set()).add(connection_id)

    # --- rooms ---------------------------------------------------------------------------------

    def add_rooms(self, user_id: str, room_ids: Iterable[str]) -> BindingChange:
        """Add rooms to a connected user's set (a membership answer or a join event)."""
        if user_id not in self.user_connections:
            return BindingChange()
        rooms = self.user_rooms.setdefault(user_id, set())
        bind = []
        for room_id in room_ids:
            if room_id in rooms:
                continue
            rooms.add(room_id)
            members = self.room_users.setdefault(room_id, set())
            members.add(user_id)
            if len(members) == 1:
                bind.append(room_key(room_id))
        return BindingChange(bind=tuple(bind))

    def remove_room(self, user_id: str, room_id: str) -> BindingChange:
        rooms = self.user_rooms.get(user_id)
        if rooms is None or room_id not in rooms:
            return BindingChange()
        rooms.discard(room_id)
        if self._drop_member(room_id, user_id):
            return BindingChange(unbind=(room_key(room_id),))
        return BindingChange()

    def is_member(self, user_id: str, room_id: str) -> bool:
        return room_id in self.user_rooms.get(user_id, ())

    # --- queries -------------------------------------------------------------------------------

    def room_connections(self, room_id: str) -> list[str]:
        """Every local connection of every local member of the room."""
        out: list[str] = []
        for user_id in self.room_users.get(room_id, ()):
            out.extend(self.user_connections.get(user_id, ()))
        return out

    def connections_of_user(self, user_id: str) -> list[str]:
        return list(self.user_connections.get(user_id, ()))

    def connections_of_session(self, session_id: str) -> list[str]:
        return list(self.session_connections.get(session_id, ()))

    def binding_keys(self) -> list[str]:
        """Every per-user and per-room key that must be bound right now (for a re-declare)."""
        keys = [user_key(u) for u in self.user_connections]
        keys.extend(room_key(r) for r in self.room_users)
        return keys

    # --- internals -----------------------------------------------------------------------------

    def _drop_member(self, room_id: str, user_id: str) -> bool:
        """Remove a member; True when the room has no local member left (unbind it)."""
        members = self.room_users.get(room_id)
        if members is None:
            return False
        members.discard(user_id)
        if members:
            return False
        del self.room_users[room_id]
        return True

    @staticmethod
    def _discard(index: dict[str, set[str]], key: str, value: str) -> None:
        values = index.get(key)
        if values is not None:
            values.discard(value)
            if not values:
                del index[key]
