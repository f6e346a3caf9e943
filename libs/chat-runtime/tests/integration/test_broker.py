import asyncio
import uuid
from typing import Any
from urllib.parse import unquote

import aio_pika
import pytest
from chat_runtime.messaging import (
    BatchResult,
    Broker,
    Envelope,
    InfrastructureError,
    PublishError,
)
from chat_runtime.messaging.topology import (
    EXCHANGE_COMMANDS,
    EXCHANGE_EVENTS,
    dead_queue,
    declare_exchanges,
    declare_exclusive_queue,
    read_queue,
    read_routing_key,
)
from chat_runtime.testing import _rabbitmqctl, temporary_vhost

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def read_body(seq: int = 1) -> dict[str, Any]:
    return {"room_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "seq": seq}


async def depth(broker: Broker, queue: str) -> int:
    channel = await broker.connection.channel()
    try:
        q = await channel.declare_queue(queue, passive=True)
        return int(q.declaration_result.message_count or 0)
    finally:
        await channel.close()


async def get_one(
    broker: Broker, queue: str, timeout: float = 10.0
) -> aio_pika.abc.AbstractIncomingMessage:
    """Take one message by consuming (basic.get is refused on single-active-consumer queues)."""
    channel = await broker.connection.channel()
    try:
        q = await channel.declare_queue(queue, passive=True)
        async with asyncio.timeout(timeout), q.iterator() as messages:
            async for message in messages:
                await message.ack()
                return message
    finally:
        await channel.close()
    raise AssertionError(f"nothing arrived on {queue}")


async def publish_raw(broker: Broker, routing_key: str, type_name: str, body: bytes) -> None:
    message = aio_pika.Message(
        body=body, type=type_name, content_type="application/json", message_id=str(uuid.uuid4())
    )
    await broker.publish_message(EXCHANGE_COMMANDS, routing_key, message, mandatory=True)


async def test_confirmed_publish_reaches_its_queue(rt_broker: Broker) -> None:
    body = read_body()
    await rt_broker.publish(
        EXCHANGE_COMMANDS,
        read_routing_key(0),
        "room.read.v1",
        body,
        mandatory=True,
        correlation_id="corr-1",
    )
    message = await get_one(rt_broker, read_queue(0))
    assert message.type == "room.read.v1"
    assert message.content_type == "application/json"
    assert message.correlation_id == "corr-1"
    assert uuid.UUID(message.message_id or "")
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.timestamp is not None
    assert "traceparent" in (message.headers or {})
    assert message.app_id == "runtime-test"
    import orjson

    assert orjson.loads(message.body) == body


async def test_unroutable_mandatory_command_raises(rt_broker: Broker) -> None:
    with pytest.raises(PublishError):
        await rt_broker.publish(
            EXCHANGE_COMMANDS, "room.read.v1.999", "room.read.v1", read_body(), mandatory=True
        )
    # The channel stays usable after a returned message.
    await rt_broker.publish(
        EXCHANGE_COMMANDS, read_routing_key(1), "room.read.v1", read_body(), mandatory=True
    )
    assert await depth(rt_broker, read_queue(1)) == 1


async def test_publish_refuses_a_body_that_breaks_its_contract(rt_broker: Broker) -> None:
    with pytest.raises(ValueError, match=r"room\.read\.v1"):
        await rt_broker.publish(EXCHANGE_COMMANDS, read_routing_key(0), "room.read.v1", {"seq": 1})


async def test_failing_handler_is_redelivered_then_dead_lettered(rt_broker: Broker) -> None:
    calls: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        calls.append(envelope)
        raise RuntimeError("boom")

    handle = await rt_broker.consume(read_queue(0), {"room.read.v1": handler})
    body = read_body()
    await rt_broker.publish(
        EXCHANGE_COMMANDS, read_routing_key(0), "room.read.v1", body, mandatory=True
    )
    dead = await get_one(rt_broker, dead_queue(read_queue(0)))
    await handle.cancel()
    import orjson

    assert orjson.loads(dead.body) == body
    # delivery limit 2: first delivery + 2 redeliveries, then dead-lettered.
    assert len(calls) == 3
    assert calls[0].redelivered is False
    assert calls[-1].redelivered is True
    assert len({c.message_id for c in calls}) == 1


async def test_schema_invalid_body_is_dead_lettered_without_reaching_the_handler(
    rt_broker: Broker, rt_logs: list[dict[str, Any]]
) -> None:
    calls: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        calls.append(envelope)

    handle = await rt_broker.consume(read_queue(0), {"room.read.v1": handler})
    await publish_raw(rt_broker, read_routing_key(0), "room.read.v1", b'{"seq": "x"}')
    await publish_raw(rt_broker, read_routing_key(0), "room.read.v1", b"not json")
    await get_one(rt_broker, dead_queue(read_queue(0)))
    await get_one(rt_broker, dead_queue(read_queue(0)))
    await handle.cancel()
    assert calls == []
    assert sum(1 for line in rt_logs if line["event"] == "invalid_message_dead_lettered") == 2


async def test_unknown_type_is_acked_and_logged(
    rt_broker: Broker, rt_logs: list[dict[str, Any]], rt_eventually: Any
) -> None:
    calls: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        calls.append(envelope)

    handle = await rt_broker.consume(read_queue(0), {"room.read.v1": handler})
    await publish_raw(rt_broker, read_routing_key(0), "room.read.v9", b"{}")
    await rt_eventually(lambda: any(x["event"] == "unknown_message_type_acked" for x in rt_logs))
    await handle.cancel()
    line = next(x for x in rt_logs if x["event"] == "unknown_message_type_acked")
    assert line["type_name"] == "room.read.v9"
    assert calls == []
    assert await depth(rt_broker, read_queue(0)) == 0
    assert await depth(rt_broker, dead_queue(read_queue(0))) == 0


async def test_nothing_is_acked_before_the_handler_ends(
    rt_amqp_url: str, rt_broker: Broker
) -> None:
    consumer_broker = Broker(rt_amqp_url, service="consumer")
    await consumer_broker.connect()
    started = asyncio.Event()
    release = asyncio.Event()

    async def handler(envelope: Envelope) -> None:
        started.set()
        await release.wait()

    await consumer_broker.consume(read_queue(0), {"room.read.v1": handler})
    await rt_broker.publish(
        EXCHANGE_COMMANDS, read_routing_key(0), "room.read.v1", read_body(), mandatory=True
    )
    await asyncio.wait_for(started.wait(), 10)
    assert await depth(rt_broker, read_queue(0)) == 0  # delivered, in flight
    # The consumer process dies mid-handler: the message must come back, since it was not acked.
    await consumer_broker.connection.close()
    message = await get_one(rt_broker, read_queue(0))
    assert message.type == "room.read.v1"
    release.set()


async def test_infrastructure_error_holds_and_retries_without_using_the_delivery_limit(
    rt_broker: Broker, rt_eventually: Any
) -> None:
    calls: list[Envelope] = []
    done = asyncio.Event()

    async def handler(envelope: Envelope) -> None:
        calls.append(envelope)
        if len(calls) <= 4:  # more failures than the delivery limit (2) allows
            raise InfrastructureError("database down")
        done.set()

    handle = await rt_broker.consume(read_queue(0), {"room.read.v1": handler})
    await rt_broker.publish(
        EXCHANGE_COMMANDS, read_routing_key(0), "room.read.v1", read_body(), mandatory=True
    )
    await asyncio.wait_for(done.wait(), 15)
    await rt_eventually(lambda: handle.running)
    await handle.cancel()
    assert len(calls) == 5
    assert all(not c.redelivered for c in calls)  # held, never requeued
    assert await depth(rt_broker, read_queue(0)) == 0
    assert await depth(rt_broker, dead_queue(read_queue(0))) == 0


async def test_batch_consumer_gets_lists_and_acks_all(
    rt_broker: Broker, rt_eventually: Any
) -> None:
    batches: list[list[Envelope]] = []

    async def handler(envelopes: list[Envelope]) -> None:
        batches.append(envelopes)

    for seq in range(1, 11):
        await rt_broker.publish(
            EXCHANGE_COMMANDS, read_routing_key(1), "room.read.v1", read_body(seq), mandatory=True
        )
    handle = await rt_broker.consume(
        read_queue(1), {"*": handler}, batch=True, max_batch=4, max_wait_s=0.05
    )
    await rt_eventually(lambda: sum(len(b) for b in batches) == 10)
    await handle.cancel()
    assert max(len(b) for b in batches) == 4
    assert [e.body["seq"] for b in batches for e in b] == list(range(1, 11))
    assert await depth(rt_broker, read_queue(1)) == 0


async def test_reconnect_restores_exclusive_queue_bindings_consumer_then_runs_callbacks() -> None:
    async with temporary_vhost("rt-reconnect") as url:
        broker = Broker(url, service="gateway-like", reconnect_interval=0.2)
        await broker.connect()
        try:
            await _reconnect_scenario(broker, url)
        finally:
            await broker.close()


async def _reconnect_scenario(broker: Broker, url: str) -> None:
    await declare_exchanges(broker.channel)
    user = str(uuid.uuid4())
    queue = await declare_exclusive_queue(broker.channel, f"gateway.{uuid.uuid4().hex[:8]}")
    await queue.bind(EXCHANGE_EVENTS, routing_key=f"user.{user}.#")
    events: list[str] = []
    arrived = asyncio.Event()
    room = str(uuid.uuid4())

    async def handler(envelope: Envelope) -> None:
        events.append(f"handled {envelope.body['room_id']}")
        arrived.set()

    async def on_reconnect() -> None:
        # Channels, the exclusive queue, its binding and the consumer are restored before the
        # callback runs: a mandatory publish here is routed and consumed.
        events.append("reconnected")
        await broker.publish(
            EXCHANGE_EVENTS,
            f"user.{user}.room.joined.v1",
            "room.joined.v1",
            {"user_id": user, "room_id": room},
            mandatory=True,
        )

    broker.on_reconnect(on_reconnect)
    handle = await broker.consume(queue.name, {"room.joined.v1": handler})
    await _rabbitmqctl("close_all_connections", "-p", unquote(url.rsplit("/", 1)[1]), "test")
    await asyncio.wait_for(arrived.wait(), 20)
    assert events == ["reconnected", f"handled {room}"]
    assert broker.is_ready()
    assert handle.running


async def test_a_nacked_publish_raises(rt_broker: Broker) -> None:
    channel = await rt_broker.connection.channel()
    name = f"test.full.{uuid.uuid4().hex[:8]}"
    queue = await channel.declare_queue(
        name, exclusive=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
    )
    await queue.bind(EXCHANGE_EVENTS, routing_key=name)
    body = {"user_id": str(uuid.uuid4()), "room_id": str(uuid.uuid4())}
    await rt_broker.publish(EXCHANGE_EVENTS, name, "room.joined.v1", body)
    with pytest.raises(PublishError, match="refused"):
        await rt_broker.publish(EXCHANGE_EVENTS, name, "room.joined.v1", body)
    await channel.close()


async def test_connect_retries_then_gives_up_when_nothing_listens() -> None:
    broker = Broker("amqp://guest:guest@127.0.0.1:1/", service="nowhere")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises((ConnectionError, OSError)):
        await broker.connect(retry_for_s=0.5)
    assert 0.2 <= loop.time() - started < 5
    assert not broker.is_ready()


async def test_batch_result_acks_the_good_and_dead_letters_or_retries_the_bad(
    rt_broker: Broker, rt_eventually: Any
) -> None:
    import orjson

    seen: list[tuple[int, int]] = []  # (seq, delivery_count) of every handled envelope

    async def handler(envelopes: list[Envelope]) -> BatchResult:
        result = BatchResult()
        for envelope in envelopes:
            seq = int(envelope.body["seq"])
            seen.append((seq, envelope.delivery_count))
            if seq == 3:
                result.dead_letter(envelope)  # poison: to <queue>.dead at once
            elif seq == 5 and envelope.delivery_count == 0:
                result.retry(envelope)  # transient: comes back once, then succeeds
        return result

    for seq in range(1, 7):
        await rt_broker.publish(
            EXCHANGE_COMMANDS, read_routing_key(1), "room.read.v1", read_body(seq), mandatory=True
        )
    handle = await rt_broker.consume(
        read_queue(1), {"*": handler}, batch=True, max_batch=10, max_wait_s=0.05
    )
    dead = await get_one(rt_broker, dead_queue(read_queue(1)))
    await rt_eventually(lambda: (5, 1) in seen)
    await handle.cancel()
    assert orjson.loads(dead.body)["seq"] == 3
    assert sorted(seq for seq, _ in seen) == [1, 2, 3, 4, 5, 5, 6]  # only 5 came back
    assert await depth(rt_broker, read_queue(1)) == 0
    assert await depth(rt_broker, dead_queue(read_queue(1))) == 0
