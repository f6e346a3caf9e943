"""Send-shard leases of one process (ADR 0008): the replicas share the send shards through
leases in PostgreSQL, and a send batch commits only under the leases of its shards.

The keeper (`SendShardLeases.run`, a task of the service) renews this process's leases every
`renew_s`, says it is alive (`send_shard_replicas`), and moves towards its fair share,
ceil(shards / live replicas): above it, it hands the excess over (stops consuming the shard's
queues, which gives their unacked deliveries back in order, then releases the lease); below it,
it takes free or expired shards and consumes their queues. A shard is its send queue, consumed
by the send consumer (`SEND_CONSUMER`, one batch over every shard held), and its read queue,
consumed by that shard's read consumer (`read_consumer(shard)`). Read commands are not fenced:
a read position only ever moves forward, so one applied twice or late changes nothing; they
follow the leases only to spread the load (with single-active-consumer alone, every read shard
would be active on the replica that happened to start first).

Nothing here is trusted for safety but the fence: a batch's transaction first locks the lease
rows of its shards where owner and epoch are still the ones this process acquired
(`Fence.check`); a shard that fails is lost, nothing of it is committed and its queue is given
back (`BatchResult.release`). A process paused past its lease (GC, SIGSTOP, a VM migration)
finds on resuming that the epoch moved on, so it commits nothing; the row lock keeps a takeover
from completing while a batch under the old epoch is still open, and the batch's transaction
may sit idle no longer than the lease lasts, so a process paused mid-transaction frees the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chat_contracts import names
from chat_runtime.logging import get_logger
from chat_runtime.messaging import ConsumerHandle
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from message_service.domain.leases import fair_share, plan
from message_service.store import shard_leases

log = get_logger(__name__)

# The names of the leased consumers in the host's table (`ctx.consumer(name)`).
SEND_CONSUMER = "send"


def read_consumer(shard: int) -> str:
    return f"read-{shard}"


def shard_queues(shard: int) -> list[tuple[str, str]]:
    """(consumer name, queue) of everything the holder of `shard` consumes."""
    return [
        (SEND_CONSUMER, names.send_queue(shard)),
        (read_consumer(shard), names.read_queue(shard)),
    ]


def new_owner(replica_id: str) -> str:
    """This process's lease owner: the replica id and a suffix of its own, so two processes
    never share one (a restart, or two replicas given the same CHAT_REPLICA_ID)."""
    return f"{replica_id}-{uuid.uuid4().hex[:8]}"


class LeaseLost(Exception):
    """A send batch's fence found these shards no longer held by this process."""

    def __init__(self, shards: Collection[int]) -> None:
        super().__init__(f"send shard leases lost: {sorted(shards)}")
        self.shards = frozenset(shards)


@dataclass(frozen=True, slots=True)
class Fence:
    """What a send batch commits under: these shards' leases, at these epochs."""

    owner: str
    epochs: Mapping[int, int]  # shard -> epoch
    idle_s: float

    async def check(self, session: AsyncSession) -> None:
        """The batch transaction's first statement: raises LeaseLost for every shard whose
        lease moved on (the transaction then rolls back); the others stay locked until commit."""
        held = await shard_leases.fence(session, self.owner, self.epochs, self.idle_s)
        lost = set(self.epochs) - held
        if lost:
            raise LeaseLost(lost)


class SendShardLeases:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        shards: int,
        owner: str,
        ttl_s: float,
        renew_s: float,
        consumers: Callable[[str], ConsumerHandle | None],
    ) -> None:
        self.engine = engine
        self.shards = shards
        self.owner = owner
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self._consumers = consumers
        self._queue_shard = {names.send_queue(shard): shard for shard in range(shards)}
        self._held: dict[int, int] = {}  # shard -> epoch: its batches may commit (fenced)
        self._handing_over: dict[int, asyncio.Task[None]] = {}
        self._changing: dict[str, asyncio.Task[None]] = {}  # queue -> its add or removal
        self._replicas = 0
        self._ensured = False
        self._stopped = False
        self._last_ok: float | None = None
        self._task: asyncio.Task[Any] | None = None

    # --- what the send handler asks --------------------------------------------------------

    def shard_of(self, queue: str) -> int | None:
        return self._queue_shard.get(queue)

    def holds(self, shard: int) -> bool:
        return shard in self._held

    def fence(self, shards: Iterable[int]) -> Fence:
        """The fence for these shards (each must be held)."""
        return Fence(self.owner, {s: self._held[s] for s in set(shards)}, self.ttl_s)

    def lost(self, shards: Collection[int]) -> None:
        """A batch's fence failed for these shards: stop treating them as held, give their
        queues back (the batch releases its own deliveries of them at once)."""
        self._lose([s for s in shards if s in self._held], reason="fence")

    # --- readiness -------------------------------------------------------------------------

    def held_queues(self) -> list[str]:
        """The send queues of the shards held (the send consumer starts on these)."""
        return [names.send_queue(shard) for shard in sorted(self._held)]

    def read_queues(self, shard: int) -> list[str]:
        """Shard's read queue when it is held (its read consumer starts on this)."""
        return [names.read_queue(shard)] if shard in self._held else []

    def ready(self) -> bool:
        """The keeper runs and its last round is recent enough to hold leases."""
        if self._task is not None and self._task.done():
            return False
        return self._last_ok is not None and time.monotonic() - self._last_ok < self.ttl_s

    def describe(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "shards": sorted(self._held),
            "epochs": {str(shard): epoch for shard, epoch in sorted(self._held.items())},
            "handing_over": sorted(self._handing_over),
            "replicas": self._replicas,
            "fair_share": fair_share(self.shards, self._replicas),
        }

    # --- the keeper ------------------------------------------------------------------------

    def start(self, spawn: Callable[[Any, str], asyncio.Task[Any]]) -> None:
        self._task = spawn(self.run(), "send-leases")

    async def run(self) -> None:
        while not self._stopped:
            try:
                await self.tick()
            except Exception as exc:
                # The database is down, probably: leases are neither renewed nor lost here.
                # Batches under them are fenced anyway; they hold until the database is back.
                log.warning("send_leases_round_failed", owner=self.owner, error=repr(exc)[:300])
            await asyncio.sleep(self.renew_s)

    async def tick(self) -> None:
        """One round: say alive, renew, count replicas, hand over or take, match the consumer."""
        if self._stopped:
            return
        got: dict[int, int] = {}
        async with self.engine.begin() as conn:
            await shard_leases.limit_idle(conn, self.ttl_s)
            if not self._ensured:
                await shard_leases.ensure_shards(conn, self.shards)
            replicas = await shard_leases.heartbeat(conn, self.owner, self.ttl_s)
            mine = set(self._held) | set(self._handing_over)
            renewed = await shard_leases.renew(conn, self.owner, mine, self.ttl_s)
            lost = [s for s, e in self._held.items() if renewed.get(s) != e]
            held = set(self._held) - set(lost)
            todo = plan(self.shards, replicas, held, leaving=len(self._handing_over))
            if todo.acquire:
                got = await shard_leases.acquire(
                    conn, self.owner, self.shards, todo.acquire, self.ttl_s
                )
        # Committed: what was renewed and taken is ours until expires_at (database clock).
        self._ensured = True
        self._replicas = replicas
        self._lose(lost, reason="renewal")
        for shard in todo.release:
            self._hand_over(shard)
        if got:
            self._held.update(got)
            log.info(
                "send_shards_acquired", owner=self.owner, shards=sorted(got), replicas=replicas
            )
        self._match_consumer()
        self._last_ok = time.monotonic()

    def _lose(self, shards: Collection[int], *, reason: str) -> None:
        if not shards:
            return
        for shard in shards:
            self._held.pop(shard, None)
        log.warning("send_shards_lost", owner=self.owner, shards=sorted(shards), reason=reason)
        for shard in shards:
            for consumer, queue in shard_queues(shard):
                self._change(consumer, queue, add=False)

    def _change(self, consumer: str, queue: str, *, add: bool) -> None:
        """Add or give back a queue in the background: giving one back waits for the batch in
        flight (held for as long as the database is down), and the rounds must go on meanwhile.
        One change per queue at a time; the next round looks again."""
        handle = self._consumers(consumer)
        if handle is None or queue in self._changing:
            return

        async def change() -> None:
            try:
                if add:
                    await handle.add_queue(queue)
                else:
                    await handle.remove_queue(queue)
            except Exception as exc:
                log.warning("send_queue_change_failed", queue=queue, add=add, error=repr(exc)[:300])
            finally:
                self._changing.pop(queue, None)

        self._changing[queue] = asyncio.create_task(change(), name=f"send-leases:{queue}")

    def _hand_over(self, shard: int) -> None:
        epoch = self._held.pop(shard, None)
        if epoch is None:
            return  # lost meanwhile (a batch's fence): nothing to hand over

        async def hand_over() -> None:
            try:
                for consumer, queue in shard_queues(shard):
                    handle = self._consumers(consumer)
                    if handle is not None:
                        await handle.remove_queue(queue)  # its deliveries are back in the queue
                async with self.engine.begin() as conn:
                    await shard_leases.limit_idle(conn, self.ttl_s)
                    await shard_leases.release(conn, self.owner, {shard: epoch})
                log.info("send_shard_handed_over", owner=self.owner, shard=shard, epoch=epoch)
            except Exception as exc:
                # Not renewed any more: the lease expires by itself.
                log.warning("send_shard_hand_over_failed", shard=shard, error=repr(exc)[:300])
            finally:
                self._handing_over.pop(shard, None)

        self._handing_over[shard] = asyncio.create_task(
            hand_over(), name=f"send-leases:hand-over:{shard}"
        )

    def _match_consumer(self) -> None:
        """The leased consumers consume exactly the held shards' queues (a consumer that is not
        running, the bus being down, starts on them: held_queues(), read_queues())."""
        for shard in range(self.shards):
            if shard in self._handing_over:
                continue
            for consumer, queue in shard_queues(shard):
                handle = self._consumers(consumer)
                if handle is None:
                    continue
                consumed = queue in handle.queues
                if shard in self._held and not consumed:
                    self._change(consumer, queue, add=True)
                elif consumed and shard not in self._held:
                    self._change(consumer, queue, add=False)

    async def stop(self) -> None:
        """A clean stop (after the consumers stopped): every lease released, so the others
        take the shards at their next round instead of after the leases expire."""
        self._stopped = True
        tasks = [t for t in (self._task,) if t is not None]
        tasks += [*self._handing_over.values(), *self._changing.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        held, self._held = self._held, {}
        try:
            async with self.engine.begin() as conn:
                await shard_leases.limit_idle(conn, self.ttl_s)
                await shard_leases.leave(conn, self.owner)
            log.info("send_shards_left", owner=self.owner, shards=sorted(held))
        except Exception as exc:
            log.warning("send_shards_leave_failed", owner=self.owner, error=repr(exc)[:300])
