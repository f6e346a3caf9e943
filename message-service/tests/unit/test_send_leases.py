"""Send-shard leases without a database: the fair share, the keeper's rounds (a fake lease table
behind the store functions, a fake consumer) and the send handler's fence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from chat_contracts import names, types
from chat_devtools.deliveries import send_delivery
from chat_runtime.messaging import BatchResult, Envelope
from message_service.domain.leases import Plan, fair_share, plan
from message_service.domain.sending import SendCommand
from message_service.handlers import send
from message_service.handlers.deps import BusDeps
from message_service.leases import (
    SEND_CONSUMER,
    Fence,
    LeaseLost,
    SendShardLeases,
    read_consumer,
)
from message_service.store import shard_leases

pytestmark = pytest.mark.unit

SHARDS = 8


# --- the fair share -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "share"), [(0, 8), (1, 8), (2, 4), (3, 3), (4, 2), (5, 2), (8, 1), (9, 1)]
)
def test_fair_share_is_the_ceiling(replicas: int, share: int) -> None:
    assert fair_share(SHARDS, replicas) == share


def test_plan_gives_up_the_excess_and_takes_up_to_the_share() -> None:
    assert plan(SHARDS, 3, {0, 1, 2, 3, 4}) == Plan(release=(3, 4), acquire=0)
    assert plan(SHARDS, 3, {5}) == Plan(release=(), acquire=2)
    assert plan(SHARDS, 3, {0, 1, 2}) == Plan(release=(), acquire=0)
    # still handing shards over: take nothing new meanwhile
    assert plan(SHARDS, 3, {5}, leaving=1) == Plan(release=(), acquire=0)


# --- the keeper -----------------------------------------------------------------------------


class LeaseTable:
    """The two tables as the store functions see them, with a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.leases: dict[int, tuple[str | None, int, float]] = {}  # owner, epoch, expires
        self.replicas: dict[str, float] = {}
        self.released: list[tuple[str, int]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        async def ensure(conn: Any, shards: int) -> None:
            for shard in range(shards):
                self.leases.setdefault(shard, (None, 0, float("-inf")))

        async def heartbeat(conn: Any, owner: str, ttl_s: float) -> int:
            self.replicas[owner] = self.now + ttl_s
            return sum(1 for until in self.replicas.values() if until > self.now)

        async def renew(
            conn: Any, owner: str, shards: Collection[int], ttl_s: float
        ) -> dict[int, int]:
            out = {}
            for shard in shards:
                who, epoch, _ = self.leases[shard]
                if who == owner:
                    self.leases[shard] = (owner, epoch, self.now + ttl_s)
                    out[shard] = epoch
            return out

        async def acquire(
            conn: Any, owner: str, shards: int, wanted: int, ttl_s: float
        ) -> dict[int, int]:
            out: dict[int, int] = {}
            for shard in range(shards):
                who, epoch, until = self.leases[shard]
                if len(out) < wanted and (who is None or until < self.now):
                    self.leases[shard] = (owner, epoch + 1, self.now + ttl_s)
                    out[shard] = epoch + 1
            return out

        async def release(conn: Any, owner: str, epochs: Mapping[int, int]) -> None:
            for shard, epoch in epochs.items():
                if self.leases[shard][:2] == (owner, epoch):
                    self.leases[shard] = (None, epoch, float("-inf"))
                    self.released.append((owner, shard))

        async def leave(conn: Any, owner: str) -> None:
            for shard, (who, epoch, _) in self.leases.items():
                if who == owner:
                    self.leases[shard] = (None, epoch, float("-inf"))
            self.replicas.pop(owner, None)

        async def limit_idle(conn: Any, seconds: float) -> None:
            pass

        for name, fn in {
            "limit_idle": limit_idle,
            "ensure_shards": ensure,
            "heartbeat": heartbeat,
            "renew": renew,
            "acquire": acquire,
            "release": release,
            "leave": leave,
        }.items():
            monkeypatch.setattr(shard_leases, name, fn)

    def owned_by(self, owner: str) -> set[int]:
        return {s for s, (who, _, _) in self.leases.items() if who == owner}


class FakeEngine:
    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        yield None


class FakeConsumer:
    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.queues: list[str] = []

    async def add_queue(self, name: str) -> None:
        self.queues.append(name)
        self.journal.append(f"add {name}")

    async def remove_queue(self, name: str) -> None:
        if name in self.queues:
            self.queues.remove(name)
            self.journal.append(f"remove {name}")


Consumers = dict[str, FakeConsumer]


def fake_consumers(journal: list[str]) -> Consumers:
    """The send consumer and a read consumer per shard, as the host's table names them."""
    names_ = [SEND_CONSUMER, *(read_consumer(s) for s in range(SHARDS))]
    return {name: FakeConsumer(journal) for name in names_}


def keeper(owner: str, consumers: Consumers | None) -> SendShardLeases:
    return SendShardLeases(
        cast(Any, FakeEngine()),
        shards=SHARDS,
        owner=owner,
        ttl_s=5.0,
        renew_s=1.0,
        consumers=lambda name: cast(Any, consumers[name] if consumers is not None else None),
    )


def consumed(consumers: Consumers) -> tuple[list[str], list[str]]:
    """(send queues, read queues) the fake consumers consume."""
    reads = [q for s in range(SHARDS) for q in consumers[read_consumer(s)].queues]
    return sorted(consumers[SEND_CONSUMER].queues), sorted(reads)


def queues_of(shards: Collection[int]) -> tuple[list[str], list[str]]:
    return sorted(names.send_queue(s) for s in shards), sorted(names.read_queue(s) for s in shards)


async def settle() -> None:
    """Let the keepers' background hand-overs and queue changes run."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_replicas_share_the_shards_and_rebalance_when_one_joins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = LeaseTable()
    table.install(monkeypatch)
    journal: list[str] = []
    consumers = {n: fake_consumers(journal) for n in ("a", "b", "c")}
    a, b = keeper("a", consumers["a"]), keeper("b", consumers["b"])
    await a.tick()
    await settle()  # queues are added in the background (the rounds never wait for them)
    assert table.owned_by("a") == set(range(8))  # alone: every shard, send and read queues
    assert consumed(consumers["a"]) == queues_of(range(8))
    await b.tick()  # b counts two replicas but nothing is free yet
    assert table.owned_by("b") == set()
    await a.tick()  # a sees two: hands 4..7 over (queue first, then the lease)
    await settle()
    assert table.owned_by("a") == {0, 1, 2, 3}
    assert f"remove {names.send_queue(7)}" in journal
    assert f"remove {names.read_queue(7)}" in journal
    assert ("a", 7) in table.released
    await b.tick()
    assert table.owned_by("b") == {4, 5, 6, 7}
    c = keeper("c", consumers["c"])
    for k in (c, a, b):
        await k.tick()
    await settle()
    await c.tick()
    await settle()
    assert [len(table.owned_by(n)) for n in ("a", "b", "c")] == [3, 3, 2]
    for n, k in (("a", a), ("b", b), ("c", c)):
        assert consumed(consumers[n]) == queues_of(table.owned_by(n))
        assert k.describe()["shards"] == sorted(table.owned_by(n))


async def test_a_dead_replicas_shards_are_taken_after_its_lease_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = LeaseTable()
    table.install(monkeypatch)
    journal: list[str] = []
    a, b = keeper("a", fake_consumers(journal)), keeper("b", fake_consumers(journal))
    for k in (a, b, a, b):
        await k.tick()
        await settle()
    assert table.owned_by("b") == {4, 5, 6, 7}
    table.now += 3.0  # b dies (no more rounds)
    await a.tick()
    assert table.owned_by("a") == {0, 1, 2, 3}  # b's leases have not expired yet
    table.now += 3.0
    await a.tick()
    assert table.owned_by("a") == set(range(8))
    # a held them (epoch 1), b (2), a again (3)
    assert all(table.leases[s][1] == 3 for s in (4, 5, 6, 7))


async def test_a_paused_replica_finds_its_leases_gone_and_gives_the_queues_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = LeaseTable()
    table.install(monkeypatch)
    journal: list[str] = []
    consumers_b = fake_consumers(journal)
    a, b = keeper("a", fake_consumers(journal)), keeper("b", consumers_b)
    for k in (a, b, a, b):
        await k.tick()
        await settle()
    assert b.holds(4)
    table.now += 6.0  # b is paused past its lease; a takes everything
    await a.tick()
    assert table.owned_by("a") == set(range(8))
    b.lost([4])  # what its first batch after the pause finds at the fence
    assert not b.holds(4)
    await b.tick()  # the rest is found at renewal
    await settle()
    assert not any(b.holds(s) for s in range(8))
    assert consumed(consumers_b) == ([], [])
    await a.tick()  # b counts again: a hands over down to its fair share, b takes them
    await settle()
    await b.tick()
    assert table.owned_by("b") == {4, 5, 6, 7}


async def test_a_clean_stop_releases_every_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    table = LeaseTable()
    table.install(monkeypatch)
    a = keeper("a", None)  # the bus is not up: the keeper holds leases all the same
    await a.tick()
    assert a.held_queues() == [names.send_queue(s) for s in range(8)]
    await a.stop()
    assert table.owned_by("a") == set()
    assert "a" not in table.replicas
    await a.tick()  # stopped: nothing taken again
    assert table.owned_by("a") == set()


# --- the send handler's fence ------------------------------------------------------------


def envelope(shard: int) -> Envelope[types.MessageSendV1]:
    return send_delivery(shard)


class FencedWorld:
    """The database: the fence fails for `stolen` shards (someone else's epoch now)."""

    def __init__(self, stolen: set[int]) -> None:
        self.stolen = stolen
        self.committed: list[list[str]] = []
        self.fences: list[list[int]] = []

    async def send(
        self, _: BusDeps, commands: Sequence[SendCommand], fence: Fence | None = None
    ) -> None:
        assert fence is not None
        self.fences.append(sorted(fence.epochs))
        lost = self.stolen & set(fence.epochs)
        if lost:
            raise LeaseLost(lost)
        self.committed.append([str(c.client_msg_id) for c in commands])


def holding(shards: set[int]) -> SendShardLeases:
    leases = keeper("me", None)
    leases._held = dict.fromkeys(shards, 1)
    return leases


def outcomes(result: BatchResult | None, envs: list[Envelope[Any]]) -> list[str]:
    return [result.outcome_of(e) if result is not None else "ack" for e in envs]


async def test_sends_of_held_shards_commit_under_their_fence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = FencedWorld(stolen=set())
    monkeypatch.setattr(send, "_send", world.send)
    deps = BusDeps(sessions=cast(Any, None), relay=None, delivery_limit=5, leases=holding({1, 2}))
    envs = [envelope(1), envelope(2), envelope(1)]
    assert await send.handle_batch(deps, list(envs)) is None  # all acked, one ack(multiple)
    assert world.fences == [[1, 2]]
    assert len(world.committed) == 1
    assert len(world.committed[0]) == 3


async def test_sends_of_shards_not_held_are_released_not_committed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = FencedWorld(stolen=set())
    monkeypatch.setattr(send, "_send", world.send)
    deps = BusDeps(sessions=cast(Any, None), relay=None, delivery_limit=5, leases=holding({1}))
    envs = [envelope(1), envelope(3)]
    result = await send.handle_batch(deps, list(envs))
    assert outcomes(result, envs) == ["ack", "release"]
    assert world.fences == [[1]]
    assert world.committed == [[str(envs[0].body.client_msg_id)]]


async def test_a_lease_lost_at_the_fence_commits_nothing_of_its_shard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = FencedWorld(stolen={2})  # paused past its lease: another replica holds shard 2 now
    monkeypatch.setattr(send, "_send", world.send)
    leases = holding({1, 2})
    deps = BusDeps(sessions=cast(Any, None), relay=None, delivery_limit=5, leases=leases)
    envs = [envelope(2), envelope(1), envelope(2)]
    result = await send.handle_batch(deps, list(envs))
    assert outcomes(result, envs) == ["release", "ack", "release"]
    assert world.fences == [[1, 2], [1]]  # the whole transaction again, without shard 2
    assert world.committed == [[str(envs[1].body.client_msg_id)]]
    assert not leases.holds(2)
    assert leases.holds(1)


async def test_a_batch_with_only_lost_shards_commits_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = FencedWorld(stolen={2})
    monkeypatch.setattr(send, "_send", world.send)
    deps = BusDeps(sessions=cast(Any, None), relay=None, delivery_limit=5, leases=holding({2}))
    envs = [envelope(2)]
    result = await send.handle_batch(deps, list(envs))
    assert outcomes(result, envs) == ["release"]
    assert world.committed == []


async def test_a_failing_command_whose_lease_is_gone_is_released_not_requeued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leases = holding({1})

    async def failing(
        _: BusDeps, commands: Sequence[SendCommand], fence: Fence | None = None
    ) -> None:
        leases.lost([1])  # the keeper's round finds the lease gone meanwhile
        raise RuntimeError("connection in a bad state")

    monkeypatch.setattr(send, "_send", failing)
    deps = BusDeps(sessions=cast(Any, None), relay=None, delivery_limit=5, leases=leases)
    envs = [envelope(1)]
    result = await send.handle_batch(deps, list(envs))
    # A requeue would come back to this replica (still the queue's active consumer) behind
    # later deliveries: out of order. Released, it goes to the lease's new holder in order.
    assert outcomes(result, envs) == ["release"]
