"""Token expiry of every socket in one heap, checked by a single gateway-wide sweep.

No timer per connection: a refresh only pushes a new entry; stale entries are skipped lazily.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass
class ExpiryQueue:
    _heap: list[tuple[float, str]] = field(default_factory=list)
    _current: dict[str, float] = field(default_factory=dict)

    def set(self, connection_id: str, expires_at: float) -> None:
        self._current[connection_id] = expires_at
        heapq.heappush(self._heap, (expires_at, connection_id))

    def discard(self, connection_id: str) -> None:
        self._current.pop(connection_id, None)

    def due(self, now: float) -> list[str]:
        """Connections whose current expiry is at or before `now` (removed from the queue)."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            expires_at, connection_id = heapq.heappop(self._heap)
            if self._current.get(connection_id) == expires_at:
                del self._current[connection_id]
                out.append(connection_id)
        # Refreshes leave stale entries behind; rebuild when they dominate so the heap stays small.
        if len(self._heap) > 64 and len(self._heap) > 4 * len(self._current):
            self._heap = [(at, c) for c, at in self._current.items()]
            heapq.heapify(self._heap)
        return out

    def __len__(self) -> int:
        return len(self._current)
