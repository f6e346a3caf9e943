"""The typing interval enforced by the gateway (api-v1 §6: a client sends `typing` at most every
3 s per room).

At most one `typing` per (user, room) is relayed per `min_interval_s` on this gateway, whatever
the number of the user's sockets; the others are dropped silently, as `typing` for a room the
user is not in is: typing is transient and best-effort, a recipient shows it for 5 s, so a
dropped repeat changes nothing anyone sees, and an error frame would only add traffic.

Memory: one entry per (user, room) relayed within the last interval. Entries are kept in the
order they were last relayed, so the expired ones are at the front and are dropped as new
frames arrive.
"""

from __future__ import annotations

from collections import OrderedDict


class TypingGate:
    def __init__(self, min_interval_s: float) -> None:
        self.min_interval_s = min_interval_s
        self._last: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def allow(self, user_id: str, room_id: str, now: float) -> bool:
        """True when this `typing` is to be relayed (and remembered as the last one)."""
        if self.min_interval_s <= 0:
            return True
        horizon = now - self.min_interval_s
        while self._last:
            oldest = next(iter(self._last.values()))
            if oldest > horizon:
                break
            self._last.popitem(last=False)
        key = (user_id, room_id)
        if key in self._last:
            return False
        self._last[key] = now
        return True
