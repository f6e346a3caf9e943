"""Bus side: signal handlers, the `presence.changed.v1` publisher, and the leader loop.

Every replica consumes every signal (its own exclusive queue) and keeps the full state; only the
replica holding the advisory lock publishes and writes the announced table, so each change is
announced once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from chat_runtime.logging import get_logger
from chat_runtime.messaging import EXCHANGE_EVENTS, Broker, Envelope, Handler, OutgoingMessage

from presence_service.domain.announcer import Announcer, Change
from presence_service.metrics import ANNOUNCE_DELAY, ANNOUNCED, FLUSH_SIZE, LEADER
from presence_service.service import PresenceService

log = get_logger(__name__)

OPENED = "presence.connection.opened.v1"
UPDATED = "presence.connection.updated.v1"
CLOSED = "presence.connection.closed.v1"
HEARTBEAT = "presence.gateway.heartbeat.v1"
CHANGED = "presence.changed.v1"
REVOKED = "auth.session.revoked.v1"
# What this replica's queue is bound to (architecture.md, Queues).
SIGNAL_BINDINGS = ("presence.connection.#", HEARTBEAT)

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


def signal_queue_name(replica_id: str) -> str:
    return f"presence-service.signals.{replica_id}"


def rfc3339(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def signal_handlers(service: PresenceService) -> dict[str, Handler]:
    """Plain functions over the state: applying a signal twice changes nothing (idempotent)."""

    async def opened(envelope: Envelope) -> None:
        service.connection_opened(envelope.body)

    async def closed(envelope: Envelope) -> None:
        service.connection_closed(envelope.body)

    async def heartbeat(envelope: Envelope) -> None:
        service.heartbeat(envelope.body)

    return {OPENED: opened, UPDATED: opened, CLOSED: closed, HEARTBEAT: heartbeat}


def change_body(change: Change) -> dict[str, Any]:
    return {
        "user_id": change.user_id,
        "status": change.status,
        "last_seen_at": rfc3339(change.last_seen_at),
    }


def change_publisher(broker: Broker) -> Callable[[Sequence[Change]], Awaitable[None]]:
    """Publish one round of changes: confirmed, persistent (api-v1 §7), all in flight at once
    (`Broker.publish_many`: one producer span and one deadline per round, each message with its
    own message_id). Returns once every message is confirmed; raises the first failure."""

    async def publish(changes: Sequence[Change]) -> None:
        results = await broker.publish_many(
            EXCHANGE_EVENTS,
            [OutgoingMessage(CHANGED, CHANGED, change_body(change)) for change in changes],
        )
        failure = next((result for result in results if result is not None), None)
        if failure is not None:
            raise failure

    return publish


class Lock(Protocol):
    held: bool

    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def release(self) -> None: ...


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


class Leader:
    """Try for the advisory lock; while holding it, announce the state's changes as they happen."""

    def __init__(
        self,
        service: PresenceService,
        lock: Lock,
        publish: Callable[[Sequence[Change]], Awaitable[None]],
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
