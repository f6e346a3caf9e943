"""The round publisher (the runtime's `Broker.publish`) sends what api-v1 §7 asks of every
message."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import chat_contracts
import orjson
import pytest
from chat_contracts import names, types
from presence_replicas import PresenceEnv
from presence_service.bus.change_publisher import change_publisher
from presence_service.domain.announcer import Change

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def test_a_round_is_confirmed_persistent_typed_traced_and_in_order(
    presence_env: PresenceEnv,
) -> None:
    broker = presence_env.broker
    queue = await broker.channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(names.EXCHANGE_EVENTS, routing_key=names.PRESENCE_CHANGED_V1)
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    arrived = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        got.append(message)
        if len(got) == 20:
            arrived.set()

    await queue.consume(on_message, no_ack=True)
    changes = [Change(str(uuid.uuid4()), "online", 1_700_000_000.0 + i) for i in range(20)]
    await change_publisher(broker)(changes)  # returns once every message is confirmed
    await asyncio.wait_for(arrived.wait(), 5)

    decoded = [chat_contracts.decode(names.PRESENCE_CHANGED_V1, m.body) for m in got]
    assert all(isinstance(d, types.PresenceChangedV1) for d in decoded)
    assert [orjson.loads(m.body)["user_id"] for m in got] == [c.user_id for c in changes]
    for message in got:
        # The JSON Schema is the judge of what went on the wire.
        chat_contracts.validate(names.PRESENCE_CHANGED_V1, orjson.loads(message.body))
        assert message.type == names.PRESENCE_CHANGED_V1
        assert message.content_type == "application/json"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.timestamp is not None
        assert message.correlation_id
        assert str((message.headers or {})["traceparent"]).startswith("00-")
    assert len({m.message_id for m in got}) == 20
