"""Bus side: signal handlers, the `presence.changed.v1` publisher, and the leader loop.

Every replica consumes every signal (its own exclusive queue) and keeps the full state; only the
replica holding the advisory lock publishes and writes the announced table, so each change is
announced once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from chat_runtime.logging import get_logger
from chat_runtime.messaging import EXCHANGE_EVENTS, BatchHandler, Envelope, Handler

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

# Changes go out in slices, each published concurrently (one confirm round trip) and recorded
# once confirmed, so a slow broker still lets a big round (a new leader, the end of recovery)
# make progress instead of timing out as a whole.
PUBLISH_SLICE = 500


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


def batch_handler(handlers: Mapping[str, Handler]) -> BatchHandler:
    """One call per batch of deliveries (the runner acks each after it returns).

    Signals come by the hundred per second; handling them in batches costs one consumer span
    per batch instead of one per message, and the state changes are applied in order.
    """

    async def handle(envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            handler = handlers.get(envelope.type_name)
            if handler is not None:
                await handler(envelope)

    return handle


class Publisher(Protocol):
    async def publish(
        self,
        exchange: str,
        routing_key: str,
        type_name: str,
        body: Any,
        *,
        persistent: bool = True,
        mandatory: bool = False,
        confirm: bool = True,
    ) -> None: ...


def change_body(change: Change) -> dict[str, Any]:
    return {
        "user_id": change.user_id,
        "status": change.status,
        "last_seen_at": rfc3339(change.last_seen_at),
    }


def change_publisher(broker: Publisher) -> Callable[[Sequence[Change]], Awaitable[None]]:
    async def publish(changes: Sequence[Change]) -> None:
        # Confirmed, persistent (api-v1 §7); concurrent so a slice costs one round trip.
        await asyncio.gather(
            *(broker.publish(EXCHANGE_EVENTS, CHANGED, CHANGED, change_body(c)) for c in changes)
        )

    return publish


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
        publish: Callable[[Sequence[Change]], Awaitable[None]],
        *,
        retry_s: float,
        tick_s: float,
        lock_check_s: float = 0.0,
        coalesce_s: float = 0.0,
        offline_grace_s: float = 0.0,
    ) -> None:
        self.service = service
        self.lock = lock
        self.publish = publish
        self.retry_s = retry_s
        self.tick_s = tick_s
        self.lock_check_s = lock_check_s
        self.coalesce_s = coalesce_s
        self.offline_grace_s = offline_grace_s
        self.announced_total = 0
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
        await self._flush(announcer, announcer.all_changes(service.state, service.clock()))
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(service.changed.wait(), self.tick_s)
            if service.changed.is_set() and self.coalesce_s > 0:
                # Let the signals arriving together share one publish round and one write.
                await asyncio.sleep(self.coalesce_s)
            service.changed.clear()
            now = service.clock()
            # Checked before every flush by default (lock_check_s=0): a flush after the lock
            # was lost could repeat what the next leader announces.
            if loop.time() >= next_check:
                if not await self.lock.still_held():
                    log.warning("presence_leader_lock_lost")
                    return
                next_check = loop.time() + self.lock_check_s
            dirty = service.state.take_dirty()
            if not recovered and not service.recovery.active(now):
                # One heartbeat round has passed: whoever is still unheard of has left.
                recovered = True
                changes = announcer.all_changes(service.state, now)
            else:
                changes = announcer.changes_for(service.state, dirty, now)
            await self._flush(announcer, changes)

    async def _flush(self, announcer: Announcer, changes: list[Change]) -> None:
        since, self.service.pending_since = self.service.pending_since, None
        for start in range(0, len(changes), PUBLISH_SLICE):
            part = changes[start : start + PUBLISH_SLICE]
            try:
                await self.publish(part)
            except Exception:
                # Not confirmed: not recorded, so the next round computes them again (a change
                # the broker did take may then go out twice; none is lost).
                self.service.state.mark_dirty(c.user_id for c in changes[start:])
                self.service.changed.set()
                log.exception("presence_publish_failed", count=len(changes) - start)
                await asyncio.sleep(self.tick_s)
                return
            announcer.record(part)
            self.announced_total += len(part)
            FLUSH_SIZE.observe(len(part))
            for change in part:
                ANNOUNCED.labels(change.status).inc()
            # Published first, then written: a crash in between repeats a change, never loses it.
            await self.service.store.save_announced(part)
        if changes and since is not None:
            ANNOUNCE_DELAY.observe(time.monotonic() - since)
