import asyncio
import uuid
from typing import Any
from urllib.parse import unquote

import aio_pika
import orjson
import pytest
from chat_contracts.names import (
    EXCHANGE_COMMANDS,
    EXCHANGE_EVENTS,
    dead_queue,
    read_queue,
    read_routing_key,
)
from chat_contracts.types import RoomJoinedV1, RoomReadV1
from chat_runtime.messaging import (
    BatchResult,
    Broker,
    Envelope,
    InfrastructureError,
    OutgoingMessage,
    PublishError,
)
from chat_runtime.messaging.topology import declare_exchanges, declare_exclusive_queue
from chat_runtime.testing import _rabbitmqctl, temporary_vhost

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def read_body(seq: int = 1) -> RoomReadV1:
    return RoomReadV1(room_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()), seq=seq)


async def send_read(broker: Broker, shard: int, body: RoomReadV1) -> None:
    result = await broker.publish(
        EXCHANGE_COMMANDS, OutgoingMessage.of(read_routing_key(shard), body), mandatory=True
    )
    result.raise_first()


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
    """Bytes as they are: publishing does not validate (the consumer does)."""
    result = await broker.publish(
        EXCHANGE_COMMANDS, OutgoingMessage(routing_key, type_name, body), mandatory=True
    )
    result.raise_first()


async def test_confirmed_publish_reaches_its_queue(rt_broker: Broker) -> None:
    body = read_body()
    result = await rt_broker.publish(
        EXCHANGE_COMMANDS,
        OutgoingMessage.of(read_routing_key(0), body, correlation_id="corr-1"),
        mandatory=True,
    )
    assert result == [None]
    message = await get_one(rt_broker, read_queue(0))
    assert message.type == "room.read.v1"
    assert message.content_type == "application/json"
    assert message.correlation_id == "corr-1"
    assert uuid.UUID(message.message_id or "")
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.timestamp is not None
    assert "traceparent" in (message.headers or {})
    assert message.app_id == "runtime-test"
    assert orjson.loads(message.body) == {
        "room_id": body.room_id,
        "user_id": body.user_id,
        "seq": 1,
    }


async def test_unroutable_mandatory_message_fails_alone_in_its_batch(rt_broker: Broker) -> None:
    messages = [
        OutgoingMessage.of(read_routing_key(1), read_body(1)),
        OutgoingMessage.of("room.read.v1.999", read_body(2)),  # nothing bound
        OutgoingMessage.of(read_routing_key(1), read_body(3)),
    ]
    result = await rt_broker.publish(EXCHANGE_COMMANDS, messages, mandatory=True)
    assert result[0] is None
    assert isinstance(result[1], PublishError)
    assert "unroutable" in str(result[1])
    assert result[2] is None
    with pytest.raises(PublishError, match="unroutable"):
        result.raise_first()
    # The channel stays usable after a returned message.
    await send_read(rt_broker, 1, read_body(4))
    assert await depth(rt_broker, read_queue(1)) == 3


async def test_unconfirmed_publish_is_delivered(rt_broker: Broker) -> None:
    body = read_body()
    result = await rt_broker.publish(
        EXCHANGE_COMMANDS, OutgoingMessage.of(read_routing_key(0), body), confirm=False
    )
    assert result == [None]
    message = await get_one(rt_broker, read_queue(0))
    assert message.type == "room.read.v1"
    assert orjson.loads(message.body)["seq"] == body.seq


async def test_publish_before_connect_returns_failures_instead_of_raising() -> None:
    broker = Broker("amqp://guest:guest@127.0.0.1:1/", service="never-connected")
    messages = [OutgoingMessage.of("k", read_body(n)) for n in (1, 2)]
    result = await broker.publish(EXCHANGE_COMMANDS, messages)
    assert len(result) == 2
    assert all(isinstance(failure, PublishError) for failure in result)


async def test_failing_handler_is_redelivered_then_dead_lettered(rt_broker: Broker) -> None:
    calls: list[Envelope[RoomReadV1]] = []

    async def handler(envelope: Envelope[RoomReadV1]) -> None:
        calls.append(envelope)
        raise RuntimeError("boom")

    handle = await rt_broker.consume(read_queue(0), {"room.read.v1": handler})
    body = read_body()
    await send_read(rt_broker, 0, body)
    dead = await get_one(rt_broker, dead_queue(read_queue(0)))
    await handle.cancel()
    assert orjson.loads(dead.body)["room_id"] == body.room_id
    assert calls[0].body == body
    # delivery limit 2: first delivery + 2 redeliveries, then dead-lettered.
    assert len(calls) == 3
    assert calls[0].redelivered is False
    assert calls[-1].redelivered is True
    assert len({c.message_id for c in calls}) == 1


async def test_schema_invalid_body_is_dead_lettered_without_reaching_the_handler(
    rt_broker: Broker, rt_logs: list[dict[str, Any]]
) -> None:
    calls: list[Envelope[RoomReadV1]] = []

    async def handler(envelope: Envelope[RoomReadV1]) -> None:
        calls.append(envelope)

    handle = await rt_broker.consume(read_queue(0), {"room.read.v1": handler})
    await publish_raw(rt_broker, read_routing_key(0), "room.read.v1", b'{"seq": "x"}')
    await publish_raw(rt_broker, read_routing_key(0), "room.read.v1", b"not json")
    # A struct that breaks its schema's constraints (seq >= 1) is published as it is.
    await send_read(rt_broker, 0, read_body(0))
    for _ in range(3):
        await get_one(rt_broker, dead_queue(read_queue(0)))
    await handle.cancel()
    assert calls == []
    assert sum(1 for line in rt_logs if line["event"] == "invalid_message_dead_lettered") == 3


async def test_unknown_type_is_acked_and_logged(
    rt_broker: Broker, rt_logs: list[dict[str, Any]], rt_eventually: Any
) -> None:
    calls: list[Envelope[RoomReadV1]] = []

    async def handler(envelope: Envelope[RoomReadV1]) -> None:
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

    async def handler(envelope: Envelope[RoomReadV1]) -> None:
        started.set()
        await release.wait()

    await consumer_broker.consume(read_queue(0), {"room.read.v1": handler})
    await send_read(rt_broker, 0, read_body())
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
    calls: list[Envelope[RoomReadV1]] = []
    done = asyncio.Event()

    async def handler(envelope: Envelope[RoomReadV1]) -> None:
        calls.append(envelope)
        if len(calls) <= 4:  # more failures than the delivery limit (2) allows
            raise InfrastructureError("database down")
        done.set()

    handle = await rt_broker.consume(read_queue(0), {"room.read.v1": handler})
    await send_read(rt_broker, 0, read_body())
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
    batches: list[list[Envelope[RoomReadV1]]] = []

    async def handler(envelopes: list[Envelope[RoomReadV1]]) -> None:
        batches.append(envelopes)

    for seq in range(1, 11):
        await send_read(rt_broker, 1, read_body(seq))
    handle = await rt_broker.consume(
        read_queue(1), {"*": handler}, batch=True, max_batch=4, max_wait_s=0.05
    )
    await rt_eventually(lambda: sum(len(b) for b in batches) == 10)
    await handle.cancel()
    assert max(len(b) for b in batches) == 4
    assert [e.body.seq for b in batches for e in b] == list(range(1, 11))
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

    async def handler(envelope: Envelope[RoomJoinedV1]) -> None:
        events.append(f"handled {envelope.body.room_id}")
        arrived.set()

    async def on_reconnect() -> None:
        # Channels, the exclusive queue, its binding and the consumer are restored before the
        # callback runs: a mandatory publish here is routed and consumed.
        events.append("reconnected")
        result = await broker.publish(
            EXCHANGE_EVENTS,
            OutgoingMessage.of(
                f"user.{user}.room.joined.v1", RoomJoinedV1(user_id=user, room_id=room)
            ),
            mandatory=True,
        )
        result.raise_first()

    broker.on_reconnect(on_reconnect)
    handle = await broker.consume(queue.name, {"room.joined.v1": handler})
    await _rabbitmqctl("close_all_connections", "-p", unquote(url.rsplit("/", 1)[1]), "test")
    await asyncio.wait_for(arrived.wait(), 20)
    assert events == ["reconnected", f"handled {room}"]
    assert broker.is_ready()
    assert handle.running


async def test_a_nacked_message_fails_and_the_others_are_confirmed(rt_broker: Broker) -> None:
    channel = await rt_broker.connection.channel()
    name = f"test.full.{uuid.uuid4().hex[:8]}"
    queue = await channel.declare_queue(
        name, exclusive=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
    )
    await queue.bind(EXCHANGE_EVENTS, routing_key=name)
    body = RoomJoinedV1(user_id=str(uuid.uuid4()), room_id=str(uuid.uuid4()))
    result = await rt_broker.publish(EXCHANGE_EVENTS, [OutgoingMessage.of(name, body)] * 2)
    assert result[0] is None
    assert isinstance(result[1], PublishError)
    with pytest.raises(PublishError, match="refused"):
        result.raise_first()
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
    seen: list[tuple[int, int]] = []  # (seq, delivery_count) of every handled envelope

    async def handler(envelopes: list[Envelope[RoomReadV1]]) -> BatchResult:
        result = BatchResult()
        for envelope in envelopes:
            seq = envelope.body.seq
            seen.append((seq, envelope.delivery_count))
            if seq == 3:
                result.dead_letter(envelope)  # poison: to <queue>.dead at once
            elif seq == 5 and envelope.delivery_count == 0:
                result.retry(envelope)  # transient: comes back once, then succeeds
        return result

    result = await rt_broker.publish(
        EXCHANGE_COMMANDS,
        [OutgoingMessage.of(read_routing_key(1), read_body(seq)) for seq in range(1, 7)],
        mandatory=True,
    )
    assert result.ok
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
