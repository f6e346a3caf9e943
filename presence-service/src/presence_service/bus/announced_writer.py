"""The announced-table writer: confirmed changes written behind the announcements, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from chat_runtime.logging import get_logger

from presence_service.domain.announcer import Change

log = get_logger(__name__)


class AnnouncedWriter:
    """Writes confirmed changes to the announced table behind the announcements, in order.

    The publish path never waits for the database: a slow write (PostgreSQL is shared) used to
    hold back every later round. Changes that pile up while a write runs go out as one write,
    the newest change of a user winning. Still "published first, then written": a crash before
    a write repeats those changes after the restart, it never loses one.
    """

    def __init__(
        self, save: Callable[[Sequence[Change]], Awaitable[None]], *, every_s: float = 0.0
    ) -> None:
        self._save = save
        # At most one write per `every_s`: the table only matters after a restart, and a
        # transaction per 20 ms round was a fair share of the CPU.
        self.every_s = every_s
        self._pending: dict[str, Change] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.failed: BaseException | None = None
        self.draining = False

    def add(self, changes: Sequence[Change]) -> None:
        for change in changes:
            earlier = self._pending.get(change.user_id)
            if earlier is not None and earlier.last_seen_at > change.last_seen_at:
                # The table keeps the greatest last_seen_at; so does the merged write.
                change = Change(change.user_id, change.status, earlier.last_seen_at)
            self._pending[change.user_id] = change
        if changes:
            self._idle.clear()
            self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = list(self._pending.values()), {}
                try:
                    await self._save(batch)
                except Exception as exc:
                    # The table no longer matches what was announced: the leader steps down,
                    # and the next leadership re-reads the table and repeats the difference.
                    log.exception("presence_announced_write_failed", count=len(batch))
                    self.failed = exc
                    self._idle.set()
                    return
                if self.every_s > 0 and not self.draining:
                    await asyncio.sleep(self.every_s)
            self._idle.set()

    async def drain(self) -> None:
        self.draining = True
        await self._idle.wait()
