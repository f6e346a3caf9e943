"""The send-batch handler's failure handling, with the transaction replaced by fakes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

import pytest
from chat_runtime.messaging import Envelope, InfrastructureError
from message_service import bus
from message_service.domain.sending import SendCommand

pytestmark = pytest.mark.unit


def envelope(delivery_count: int = 0) -> Envelope:
    return Envelope(
        type_name="message.send.v1",
        body={
            "client_msg_id": str(uuid.uuid4()),
            "room_id": str(uuid.uuid4()),
            "sender_id": str(uuid.uuid4()),
            "session_id": str(uuid.uuid4()),
            "text": "hi",
            "gateway_id": str(uuid.uuid4()),
            "connection_id": str(uuid.uuid4()),
        },
        message_id=str(uuid.uuid4()),
        correlation_id=None,
        headers={},
        routing_key="message.send.v1.3",
        delivery_count=delivery_count,
    )


class FakeWorld:
    """Stands in for the database: commits batches unless they contain a poison command."""

    def __init__(self, poison: set[str], infra_down: bool = False) -> None:
        self.poison = poison
        self.infra_down = infra_down
        self.committed: list[list[str]] = []
        self.told: list[str] = []
        self.dead: list[str] = []

    async def send(self, _: bus.BusDeps, commands: Sequence[SendCommand]) -> None:
        if self.infra_down:
            raise InfrastructureError("database down")
        ids = [str(c.client_msg_id) for c in commands]
        if self.poison & set(ids):
            raise RuntimeError("bug")
        self.committed.append(ids)

    async def tell(self, _: bus.BusDeps, cmd: SendCommand) -> None:
        self.told.append(str(cmd.client_msg_id))

    async def dead_letter(self, env: Envelope, reason: str) -> None:
        self.dead.append(env.body["client_msg_id"])


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(poison: set[str], infra_down: bool = False) -> tuple[FakeWorld, bus.BusDeps]:
        fake = FakeWorld(poison, infra_down)
        monkeypatch.setattr(bus, "_send", fake.send)
        monkeypatch.setattr(bus, "_tell_sender", fake.tell)
        deps = bus.BusDeps(
            sessions=cast(Any, None), relay=None, delivery_limit=5, dead_letter=fake.dead_letter
        )
        return fake, deps

    return make


def cmid(env: Envelope) -> str:
    value: str = env.body["client_msg_id"]
    return value


async def test_a_good_batch_commits_once(world: Any) -> None:
    envs = [envelope() for _ in range(3)]
    fake, deps = world(set())
    await bus.handle_send_batch(deps, envs)
    assert fake.committed == [[cmid(e) for e in envs]]


async def test_poison_is_isolated_and_requeued_before_its_last_delivery(world: Any) -> None:
    envs = [envelope(1) for _ in range(3)]
    fake, deps = world({cmid(envs[1])})
    with pytest.raises(bus.CommandFailed):
        await bus.handle_send_batch(deps, envs)
    assert fake.committed == [[cmid(envs[0])], [cmid(envs[2])]]
    assert fake.told == []
    assert fake.dead == []


async def test_poison_on_its_last_delivery_tells_the_sender_and_is_dead_lettered(
    world: Any,
) -> None:
    envs = [envelope(5), envelope(0)]
    fake, deps = world({cmid(envs[0])})
    await bus.handle_send_batch(deps, envs)  # returns: the batch is acked, neighbour committed
    assert fake.told == [cmid(envs[0])]
    assert fake.dead == [cmid(envs[0])]
    assert fake.committed == [[cmid(envs[1])]]


async def test_infrastructure_errors_propagate_for_the_runner_to_hold(world: Any) -> None:
    fake, deps = world(set(), infra_down=True)
    with pytest.raises(InfrastructureError):
        await bus.handle_send_batch(deps, [envelope(5)])
    assert fake.told == []
    assert fake.dead == []


async def test_other_types_on_the_send_queue_are_ignored(world: Any) -> None:
    fake, deps = world(set())
    other = Envelope("room.read.v1", {}, None, None, {}, "room.read.v1.0")
    await bus.handle_send_batch(deps, [other])
    assert fake.committed == []
