"""The leader loop and the replica's queries, with a fake store, lock, publisher and clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import chat_contracts
import pytest
from chat_contracts import names, types
from presence_service.bus.announced_writer import AnnouncedWriter
from presence_service.bus.change_publisher import change_event
from presence_service.bus.leader import Leader
from presence_service.domain.announcer import Announced, Change
from presence_service.service import PresenceService
from presence_service.store import FakePresenceStore
from presence_service.timestamps import rfc3339

pytestmark = pytest.mark.unit

G = "9b2b1f0e-0000-4000-8000-000000000001"
U1 = "9b2b1f0e-0000-4000-8000-0000000000a1"
U2 = "9b2b1f0e-0000-4000-8000-0000000000a2"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class FakeLock:
    def __init__(self, free: bool = True) -> None:
        self.free = free
        self.held = False

    async def try_acquire(self) -> bool:
        self.held = self.free
        return self.held

    async def still_held(self) -> bool:
        self.held = self.held and self.free
        return self.held

    async def release(self) -> None:
        self.held = False


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[Change] = []
        self.fail = False
        self.arrived = asyncio.Event()

    async def __call__(self, changes: Sequence[Change]) -> None:
        if self.fail:
            raise RuntimeError("broker down")
        self.sent.extend(changes)
        self.arrived.set()

    async def wait(self, count: int) -> None:
        while len(self.sent) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 2)


AT = "2026-01-01T00:00:00.000Z"


def opened(
    user: str, conn: str, status: types.ConnectionStatus = "online"
) -> types.PresenceConnectionOpenedV1:
    return types.PresenceConnectionOpenedV1(
        gateway_id=G, connection_id=conn, user_id=user, status=status, at=AT
    )


def closed(user: str, conn: str) -> types.PresenceConnectionClosedV1:
    return types.PresenceConnectionClosedV1(gateway_id=G, connection_id=conn, user_id=user, at=AT)


def heartbeat(
    *connections: tuple[str, str, types.ConnectionStatus],
) -> types.PresenceGatewayHeartbeatV1:
    return types.PresenceGatewayHeartbeatV1(
        gateway_id=G,
        sent_at=AT,
        interval_s=10,
        connections=[
            types.HeartbeatConnection(connection_id=conn, user_id=user, status=status)
            for user, conn, status in connections
        ],
    )


def make(
    store: FakePresenceStore | None = None, lock: FakeLock | None = None
) -> tuple[PresenceService, Leader, FakePublisher, FakeClock]:
    clock = FakeClock()
    service = PresenceService(
        store or FakePresenceStore(), silence_s=30, recovery_s=12, clock=clock
    )
    publisher = FakePublisher()
    leader = Leader(service, lock or FakeLock(), publisher, retry_s=0.01, tick_s=0.01)
    return service, leader, publisher, clock


async def test_leader_announces_and_records_each_change_once() -> None:
    store = FakePresenceStore()
    service, leader, publisher, _ = make(store)
    service.start_recovery()
    task = asyncio.create_task(leader.run())
    service.connection_opened(opened(U1, "c1"))
    await publisher.wait(1)
    service.heartbeat(heartbeat((U1, "c1", "online")))
    service.connection_opened(opened(U1, "c1"))  # repeated: changes nothing
    service.connection_closed(closed(U1, "c1"))
    await publisher.wait(2)
    await leader.stop(task)
    assert [(c.user_id, c.status) for c in publisher.sent] == [(U1, "online"), (U1, "offline")]
    assert store.rows[U1].status == "offline"


async def test_follower_announces_nothing() -> None:
    service, leader, publisher, _ = make(lock=FakeLock(free=False))
    service.start_recovery()
    task = asyncio.create_task(leader.run())
    service.connection_opened(opened(U1, "c1"))
    await asyncio.sleep(0.05)
    await leader.stop(task)
    assert publisher.sent == []
    assert not leader.is_leader


async def test_new_leader_announces_the_difference_with_the_table() -> None:
    store = FakePresenceStore({U2: Announced("online", 900.0)})
    service, leader, publisher, clock = make(store, FakeLock(free=False))
    service.start_recovery()
    clock.now += 20  # long past the recovery round
    service.connection_opened(opened(U1, "c1"))
    task = asyncio.create_task(leader.run())
    await asyncio.sleep(0.03)
    assert publisher.sent == []
    leader.lock.free = True  # type: ignore[attr-defined]  # the old leader died
    await publisher.wait(2)
    await leader.stop(task)
    assert {(c.user_id, c.status) for c in publisher.sent} == {(U1, "online"), (U2, "offline")}


async def test_unconfirmed_publish_is_retried_not_recorded() -> None:
    store = FakePresenceStore()
    service, leader, publisher, _ = make(store)
    service.start_recovery()
    publisher.fail = True
    task = asyncio.create_task(leader.run())
    service.connection_opened(opened(U1, "c1"))
    await asyncio.sleep(0.05)
    assert store.rows == {}
    publisher.fail = False
    await publisher.wait(1)
    await leader.stop(task)
    assert [(c.user_id, c.status) for c in publisher.sent] == [(U1, "online")]
    assert store.rows[U1].status == "online"


async def test_losing_the_lock_stops_announcing() -> None:
    lock = FakeLock()
    service, leader, publisher, _ = make(lock=lock)
    service.start_recovery()
    task = asyncio.create_task(leader.run())
    await asyncio.wait_for(leader.leading.wait(), 1)
    lock.free = False
    service.connection_opened(opened(U1, "c1"))
    await asyncio.sleep(0.05)
    await leader.stop(task)
    assert publisher.sent == []


async def test_restart_holds_announced_users_for_one_round() -> None:
    store = FakePresenceStore({U1: Announced("online", 900.0), U2: Announced("away", 900.0)})
    service, leader, publisher, clock = make(store)
    await service.load_held()
    service.start_recovery()
    task = asyncio.create_task(leader.run())
    service.heartbeat(heartbeat((U2, "c2", "away")))
    await asyncio.sleep(0.05)
    assert publisher.sent == []
    assert [p.user_id for p in service.everyone_present()] == sorted([U1, U2])
    clock.now += 12
    service.changed.set()
    await publisher.wait(1)
    await leader.stop(task)
    assert [(c.user_id, c.status) for c in publisher.sent] == [(U1, "offline")]
    assert [p.user_id for p in service.everyone_present()] == [U2]


async def test_queries_fill_last_seen_from_the_store() -> None:
    store = FakePresenceStore({U2: Announced("offline", 500.0)})
    service, _, _, _ = make(store)
    service.start_recovery()
    service.connection_opened(opened(U1, "c1"))
    found = await service.presence_of([U1, U2, "9b2b1f0e-0000-4000-8000-0000000000ff"])
    assert [(p.status, p.last_seen_at, p.connections) for p in found] == [
        ("online", 1000.0, 1),
        ("offline", 500.0, 0),
        ("offline", None, 0),
    ]


def test_silence_is_not_swept_while_our_link_is_down() -> None:
    service, _, _, clock = make()
    service.connection_opened(opened(U1, "c1"))
    service.broker_lost()
    clock.now += 60
    assert service.sweep() == []
    service.broker_reconnected()
    clock.now += 29
    assert service.sweep() == []
    clock.now += 1
    assert service.sweep() == [G]


def test_change_event_matches_the_contract() -> None:
    event = change_event(Change(U1, "offline", 1_700_000_000.5))
    body = chat_contracts.encode(event)
    assert chat_contracts.decode(names.PRESENCE_CHANGED_V1, body) == event
    assert event == types.PresenceChangedV1(
        user_id=U1, status="offline", last_seen_at="2023-11-14T22:13:20.500Z"
    )
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"


class GatedPublisher:
    """Holds the first round's confirm until released, as a busy broker does."""

    def __init__(self) -> None:
        self.calls: list[list[Change]] = []
        self.gate = asyncio.Event()
        self.called = asyncio.Event()

    async def __call__(self, changes: Sequence[Change]) -> None:
        self.calls.append(list(changes))
        self.called.set()
        if len(self.calls) == 1:
            await self.gate.wait()

    async def wait_calls(self, count: int) -> None:
        while len(self.calls) < count:
            self.called.clear()
            await asyncio.wait_for(self.called.wait(), 2)


async def test_a_slow_confirm_does_not_hold_back_the_next_round() -> None:
    store = FakePresenceStore()
    clock = FakeClock()
    service = PresenceService(store, silence_s=30, recovery_s=12, clock=clock)
    publisher = GatedPublisher()
    leader = Leader(service, FakeLock(), publisher, retry_s=0.01, tick_s=0.01)
    service.start_recovery()
    task = asyncio.create_task(leader.run())
    service.connection_opened(opened(U1, "c1"))
    await publisher.wait_calls(1)
    service.connection_opened(opened(U2, "c2"))
    await publisher.wait_calls(2)  # while the first round is still unconfirmed
    assert [[c.user_id for c in call] for call in publisher.calls] == [[U1], [U2]]
    assert U1 not in store.rows  # written only once confirmed
    publisher.gate.set()
    await leader.stop(task)
    assert {u: r.status for u, r in store.rows.items()} == {U1: "online", U2: "online"}


def test_an_unconfirmed_change_is_said_again_even_when_nothing_changed_since() -> None:
    from presence_service.domain.announcer import Announcer, Recovery
    from presence_service.domain.state import PresenceState

    state = PresenceState(silence_s=30)
    state.connection_opened(G, "c1", U1, "online", 1_000.0)
    announcer = Announcer({}, Recovery(started_at=0.0, until=0.0))
    first = announcer.changes_for(state, state.take_dirty(), 1_000.0)
    announcer.record(first)  # counted as said when sent
    assert announcer.changes_for(state, [U1], 1_001.0) == []
    announcer.unsure([U1])  # ...but its confirm never came
    again = announcer.changes_for(state, [], 1_002.0)
    assert [(c.user_id, c.status) for c in again] == [(U1, "online")]
    announcer.record(again)
    assert announcer.changes_for(state, [U1], 1_003.0) == []


async def test_writer_merges_what_piles_up_behind_a_slow_write() -> None:
    saved: list[list[Change]] = []
    release = asyncio.Event()

    async def save(changes: Sequence[Change]) -> None:
        saved.append(list(changes))
        if len(saved) == 1:
            await release.wait()

    writer = AnnouncedWriter(save)
    task = asyncio.create_task(writer.run())
    writer.add([Change(U1, "online", 10.0)])
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    writer.add([Change(U1, "offline", 20.0), Change(U2, "online", 20.0)])
    writer.add([Change(U1, "online", 15.0)])  # older last_seen: the greatest one is kept
    release.set()
    await asyncio.wait_for(writer.drain(), 2)
    task.cancel()
    assert saved == [
        [Change(U1, "online", 10.0)],
        [Change(U1, "online", 20.0), Change(U2, "online", 20.0)],
    ]


async def test_the_table_ends_with_the_newest_change_when_confirms_finish_out_of_order() -> None:
    store = FakePresenceStore()
    clock = FakeClock()
    service = PresenceService(store, silence_s=30, recovery_s=12, clock=clock)
    publisher = GatedPublisher()
    leader = Leader(service, FakeLock(), publisher, retry_s=0.01, tick_s=0.01)
    service.start_recovery()
    task = asyncio.create_task(leader.run())
    service.connection_opened(opened(U1, "c1"))
    await publisher.wait_calls(1)  # "online" held unconfirmed
    clock.now += 1
    service.connection_closed(closed(U1, "c1"))
    await publisher.wait_calls(2)  # "offline" confirmed at once
    await asyncio.sleep(0.02)
    assert U1 not in store.rows  # waits for the older round
    publisher.gate.set()
    await leader.stop(task)
    assert [(c.status) for call in publisher.calls for c in call] == ["online", "offline"]
    assert store.rows[U1].status == "offline"
