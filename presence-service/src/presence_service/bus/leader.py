"""The leader loop: try for the advisory lock; while holding it, announce the state's changes.

Rounds are pipelined: a round is published without waiting for the previous round's confirms
(docs/performance.md, Presence), confirmed rounds reach the announced-table writer in send order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

from chat_runtime.logging import get_logger

from presence_service.bus.announced_writer import AnnouncedWriter
from presence_service.bus.change_publisher import Publish
from presence_service.domain.announcer import Announcer, Change
from presence_service.metrics import ANNOUNCE_DELAY, ANNOUNCED, FLUSH_SIZE, LEADER
from presence_service.service import PresenceService

log = get_logger(__name__)

# Rounds, and messages, whose confirms may be outstanding at once; beyond either the leader waits
# for the oldest round. The message bound keeps a big round (a new leader, the end of recovery)
# from queueing thousands of publishes behind the channel's lock, where the last ones would time
# out waiting for their turn rather than for the broker.
MAX_ROUNDS_IN_FLIGHT = 8
MAX_MESSAGES_IN_FLIGHT = 1000
# A big round goes out in slices, each confirmed and recorded before the next, so a slow broker
# still lets it make progress instead of timing out as a whole. Equal to the message bound: a
# round of several slices is then always alone in flight, so no later round can overtake its
# later slices on the wire (which could leave an older status announced last).
PUBLISH_SLICE = MAX_MESSAGES_IN_FLIGHT


class Lock(Protocol):
    held: bool

    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def release(self) -> None: ...


class Leader:
    """Try for the advisory lock; while holding it, announce the state's changes as they happen."""

    def __init__(
        self,
        service: PresenceService,
        lock: Lock,
        publish: Publish,
        *,
        retry_s: float,
        tick_s: float,
        lock_check_s: float = 0.0,
        coalesce_s: float = 0.0,
        offline_grace_s: float = 0.0,
        write_every_s: float = 0.0,
    ) -> None:
        self.service = service
        self.write_every_s = write_every_s
        self.lock = lock
        self.publish = publish
        self.retry_s = retry_s
        self.tick_s = tick_s
        self.lock_check_s = lock_check_s
        self.coalesce_s = coalesce_s
        self.offline_grace_s = offline_grace_s
        self.announced_total = 0
        self._retry_at = 0.0
        self._outstanding = 0
        self._last_round: asyncio.Task[None] | None = None
        self.leading = asyncio.Event()
        self.stopping = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    async def run(self) -> None:
        try:
            while not self.stopping.is_set():
                if await self.lock.try_acquire():
                    log.info("presence_leader_acquired")
                    self.leading.set()
                    LEADER.set(1)
                    try:
                        await self._lead()
                    except Exception:
                        log.exception("presence_leader_failed")
                    finally:
                        self.leading.clear()
                        LEADER.set(0)
                        await self.lock.release()
                        log.info("presence_leader_released")
                else:
                    # A follower keeps the state but announces nothing; a new leader compares
                    # the whole state with the table anyway.
                    self.service.state.take_dirty()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), self.retry_s)
        finally:
            self.leading.clear()
            await self.lock.release()

    async def stop(self, task: asyncio.Task[None], timeout_s: float = 10.0) -> None:
        """Graceful: let a flush in progress publish *and* record, then give the lock back."""
        self.stopping.set()
        self.service.changed.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _lead(self) -> None:
        writer = AnnouncedWriter(self.service.store.save_announced, every_s=self.write_every_s)
        writing = asyncio.create_task(writer.run(), name="presence-announced-writer")
        try:
            if await self._announce(writer, writing):
                # Stopping (not a lost lock): what was announced gets written before we let go.
                drained = asyncio.ensure_future(writer.drain())
                await asyncio.wait([drained, writing], return_when=asyncio.FIRST_COMPLETED)
                drained.cancel()
        finally:
            # After a lost lock the unwritten rest is dropped: a late write could overwrite
            # the next leader's rows, and that leader announces the difference anyway.
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing

    async def _announce(self, writer: AnnouncedWriter, writing: asyncio.Task[None]) -> bool:
        """Announce until stopped (True) or the lock is lost (False)."""
        service = self.service
        announcer = Announcer(
            await service.store.load_announced(),
            service.recovery,
            offline_grace_s=self.offline_grace_s,
        )
        service.state.take_dirty()
        recovered = not service.recovery.active(service.clock())
        loop = asyncio.get_running_loop()
        next_check = loop.time() + self.lock_check_s
        in_flight: set[asyncio.Task[None]] = set()
        self._retry_at = 0.0
        self._last_round = None
        try:
            changes = announcer.all_changes(service.state, service.clock())
            self._send(announcer, writer, changes, in_flight)
            while not self.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(service.changed.wait(), self.tick_s)
                if service.changed.is_set() and self.coalesce_s > 0:
                    # Let the signals arriving together share one publish round and one write.
                    await asyncio.sleep(self.coalesce_s)
                if loop.time() < self._retry_at:
                    # A round was not confirmed: give the broker a moment before the retry.
                    await asyncio.sleep(self._retry_at - loop.time())
                service.changed.clear()
                now = service.clock()
                # Checked before every round by default (lock_check_s=0): a round after the
                # lock was lost could repeat what the next leader announces.
                if loop.time() >= next_check:
                    if not await self.lock.still_held():
                        log.warning("presence_leader_lock_lost")
                        return False
                    next_check = loop.time() + self.lock_check_s
                dirty = service.state.take_dirty()
                if not recovered and not service.recovery.active(now):
                    # One heartbeat round has passed: whoever is still unheard of has left.
                    recovered = True
                    changes = announcer.all_changes(service.state, now)
                else:
                    changes = announcer.changes_for(service.state, dirty, now)
                if writing.done():
                    raise RuntimeError("the announced table writer stopped") from writer.failed
                while in_flight and (
                    len(in_flight) >= MAX_ROUNDS_IN_FLIGHT
                    or self._outstanding + len(changes) > MAX_MESSAGES_IN_FLIGHT
                ):
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                self._send(announcer, writer, changes, in_flight)
            return True
        finally:
            # Rounds already handed to the broker finish (confirmed or not) before we go on.
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    def _send(
        self,
        announcer: Announcer,
        writer: AnnouncedWriter,
        changes: list[Change],
        in_flight: set[asyncio.Task[None]],
    ) -> None:
        """Start publishing a round without waiting for its confirms.

        The next round is computed and sent while this one's confirms are on their way: under
        a busy broker a confirm takes hundreds of milliseconds, and waiting for it held back
        every change behind it. The announcer counts the round as said at once (so the next
        round does not repeat it); a round that is not confirmed is marked unsure and said
        again. The channel keeps the order of the rounds.
        """
        since, self.service.pending_since = self.service.pending_since, None
        if not changes:
            return
        announcer.record(changes)
        self._outstanding += len(changes)
        task = asyncio.create_task(
            self._confirm(announcer, writer, changes, since, self._last_round)
        )
        self._last_round = task
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    async def _confirm(
        self,
        announcer: Announcer,
        writer: AnnouncedWriter,
        changes: list[Change],
        since: float | None,
        previous: asyncio.Task[None] | None,
    ) -> None:
        try:
            await self._publish_round(announcer, writer, changes, since, previous)
        finally:
            self._outstanding -= len(changes)

    async def _publish_round(
        self,
        announcer: Announcer,
        writer: AnnouncedWriter,
        changes: list[Change],
        since: float | None,
        previous: asyncio.Task[None] | None,
    ) -> None:
        for start in range(0, len(changes), PUBLISH_SLICE):
            part = changes[start : start + PUBLISH_SLICE]
            try:
                await self.publish(part)
            except Exception:
                # Not confirmed: not written, and said again by a later round (a change the
                # broker did take may then go out twice; none is lost).
                announcer.unsure(c.user_id for c in changes[start:])
                self._retry_at = asyncio.get_running_loop().time() + self.tick_s
                self.service.changed.set()
                log.exception("presence_publish_failed", count=len(changes) - start)
                return
            self.announced_total += len(part)
            FLUSH_SIZE.observe(len(part))
            for change in part:
                ANNOUNCED.labels(change.status).inc()
            if previous is not None and not previous.done():
                # Confirms come in order, but their tasks may finish out of order: the table
                # must end with a user's newest change, so rounds reach the writer in order.
                await asyncio.wait([previous])
            # Published first, then written: a crash in between repeats a change, never loses it.
            writer.add(part)
        if since is not None:
            ANNOUNCE_DELAY.observe(time.monotonic() - since)
