"""The auto-ack signal consumer's admission rules (what is handled, what is dropped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage
from chat_runtime.messaging import Broker, Envelope
from presence_service.consumer import SignalConsumer

pytestmark = pytest.mark.unit

OPENED = "presence.connection.opened.v1"
VALID = {
    "gateway_id": "9b2b1f0e-0000-4000-8000-000000000001",
    "connection_id": "9b2b1f0e-0000-4000-8000-000000000002",
    "user_id": "9b2b1f0e-0000-4000-8000-000000000003",
    "status": "online",
    "at": "2026-11-26T17:00:00.000Z",
}


@dataclass
class FakeDelivery:
    type: str
    body: bytes
    message_id: str = "m1"
    correlation_id: str = "c1"
    headers: dict[str, Any] = field(default_factory=lambda: {"traceparent": b"00-ab-cd-01"})
    routing_key: str = OPENED
    redelivered: bool = False
    exchange: str = "chat.events"
    reply_to: str | None = None


async def ignore(envelope: Envelope) -> None:
    return None


def admit(delivery: FakeDelivery) -> Envelope | None:
    consumer = SignalConsumer(cast(Broker, None), "q", {OPENED: ignore})
    return consumer._admit(cast(AbstractIncomingMessage, delivery))


def test_a_valid_signal_becomes_an_envelope_with_text_headers() -> None:
    envelope = admit(FakeDelivery(OPENED, orjson.dumps(VALID)))
    assert envelope is not None
    assert envelope.body == VALID
    assert envelope.headers["traceparent"] == "00-ab-cd-01"


@pytest.mark.parametrize(
    "delivery",
    [
        FakeDelivery(OPENED, b"not json"),
        FakeDelivery(OPENED, b"[1, 2]"),
        FakeDelivery(OPENED, orjson.dumps({**VALID, "user_id": "not-a-uuid"})),
        FakeDelivery("presence.connection.opened.v9", orjson.dumps(VALID)),
    ],
    ids=["malformed", "not-an-object", "breaks-the-contract", "unknown-type"],
)
def test_what_cannot_be_handled_is_dropped(delivery: FakeDelivery) -> None:
    assert admit(delivery) is None
