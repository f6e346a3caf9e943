"""The gateway's part of the message path's metrics: send -> ack latency, and the publish time
it puts on commands for message-service's send -> commit latency."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any, cast

import msgspec
import pytest
from chat_contracts import types
from chat_runtime.messaging import OutgoingMessage
from chat_runtime.metrics import SENT_AT_HEADER, seconds_since_sent
from gateway_service import events
from gateway_service.bus import AmqpGatewayBus
from gateway_service.domain.pending import PendingSends
from prometheus_client import REGISTRY

pytestmark = pytest.mark.unit


def value(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


class FakeGateway:
    def __init__(self) -> None:
        self.pending = PendingSends()
        self.now = 1000.0
        self.delivered: list[tuple[list[str], str]] = []

    def clock(self) -> float:
        return self.now

    def deliver(self, targets: Iterable[str], frame: str) -> None:
        self.delivered.append((list(targets), frame))


def test_an_ack_observes_the_time_since_the_send_was_accepted() -> None:
    gw = FakeGateway()
    user, cmid = str(uuid.uuid4()), str(uuid.uuid4())
    gw.pending.add(user, cmid, "conn-1", gw.now)
    gw.now += 0.125
    count, total = value("gateway_send_ack_seconds_count"), value("gateway_send_ack_seconds_sum")

    events._ack_pending(cast(Any, gw), user, cmid, msgspec.Raw(b"{}"))
    events._ack_pending(cast(Any, gw), user, cmid, msgspec.Raw(b"{}"))  # repeat: no 2nd ack

    assert [targets for targets, _ in gw.delivered] == [["conn-1"]]
    assert value("gateway_send_ack_seconds_count") == count + 1
    assert value("gateway_send_ack_seconds_sum") - total == pytest.approx(0.125)


def test_take_returns_the_waiting_connection_and_when_it_sent() -> None:
    table = PendingSends()
    table.add("u", "m", "c", 5.0)
    assert table.take("u", "m") == ("c", 5.0)
    assert table.take("u", "m") is None
    assert len(table) == 0


class RecordingBroker:
    def __init__(self) -> None:
        self.published: list[tuple[str, OutgoingMessage]] = []

    async def publish(
        self, exchange: str, message: OutgoingMessage, *, mandatory: bool, confirm: bool
    ) -> list[None]:
        self.published.append((exchange, message))
        return [None]


async def test_commands_carry_their_publish_time() -> None:
    broker = RecordingBroker()
    bus = AmqpGatewayBus(cast(Any, broker), gateway_id=str(uuid.uuid4()))
    body = types.RoomReadV1(room_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()), seq=1)

    await bus.publish_command("room.read.v1.0", body)

    [(_, message)] = broker.published
    assert message.headers is not None
    assert SENT_AT_HEADER in message.headers
    waited = seconds_since_sent(message.headers, time.time())
    assert waited is not None
    assert waited < 5
