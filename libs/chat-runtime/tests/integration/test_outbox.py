import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import orjson
import pytest
import pytest_asyncio
import sqlalchemy as sa
from chat_contracts.names import EXCHANGE_EVENTS
from chat_contracts.types import RoomJoinedV1
from chat_runtime.db import create_engine, session_factory
from chat_runtime.messaging import Broker, OutgoingMessage, PublishError, PublishResult
from chat_runtime.messaging.outbox import (
    OutboxEvent,
    OutboxRelay,
    add_event,
    add_events,
    outbox_table,
)
from chat_runtime.messaging.topology import declare_exclusive_queue
from chat_runtime.testing import temporary_database
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

metadata = sa.MetaData()
outbox = outbox_table(metadata)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rt_outbox_sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with temporary_database("rt_outbox") as url:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        try:
            yield session_factory(engine)
        finally:
            await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def rt_sessions(
    rt_outbox_sessions: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    async with rt_outbox_sessions() as session, session.begin():
        await session.execute(sa.delete(outbox))
    return rt_outbox_sessions


class Listener:
    """An exclusive queue bound to user.<id>.# (a fresh user per test) collecting what the
    relay publishes."""

    def __init__(self) -> None:
        self.user = str(uuid.uuid4())
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        self.arrived = asyncio.Event()

    async def start(self, channel: aio_pika.abc.AbstractChannel) -> None:
        queue = await declare_exclusive_queue(
            channel,
            f"test.{uuid.uuid4().hex}",
            bindings=[(EXCHANGE_EVENTS, f"user.{self.user}.#")],
        )
        await queue.consume(self._on, no_ack=True)

    async def _on(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.messages.append(message)
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest_asyncio.fixture(loop_scope="session")
async def listener(rt_broker: Broker) -> AsyncIterator[Listener]:
    channel = await rt_broker.connection.channel()
    found = Listener()
    try:
        await found.start(channel)
        yield found
    finally:
        await channel.close()


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay, *, past_startup: bool = False) -> AsyncIterator[OutboxRelay]:
    """The relay's loop runs for the block and is stopped after it, whatever happens.
    `past_startup`: wait until its start-up table drain is done, so rows handed over from then
    on are published from memory."""
    relay.start()
    try:
        if past_startup:
            await _wait_until(lambda: not relay._from_table)
        yield relay
    finally:
        await relay.stop()


def joined(user: str) -> dict[str, Any]:
    return {
        "exchange": EXCHANGE_EVENTS,
        "routing_key": f"user.{user}.room.joined.v1",
        "body": RoomJoinedV1(user_id=user, room_id=str(uuid.uuid4())),
    }


async def unpublished(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        query = sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
        return int((await session.execute(query)).scalar_one())


async def test_rolled_back_transaction_publishes_nothing(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = listener.user
    async with rt_sessions() as session, session.begin():
        await add_event(session, outbox, **joined(user))
        await session.rollback()
    relay = OutboxRelay(rt_sessions, outbox, rt_broker)
    assert await relay.drain_once() == 0
    # A committed marker event shows the listener works and that nothing came before it.
    async with rt_sessions() as session, session.begin():
        marker = await add_event(session, outbox, **joined(user))
    assert await relay.drain_once() == 1
    await listener.wait_for(1)
    assert [m.message_id for m in listener.messages] == [marker]


async def test_committed_event_is_published_once_after_notify(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = listener.user
    async with running(OutboxRelay(rt_sessions, outbox, rt_broker, poll_interval_s=30)) as relay:
        async with rt_sessions() as session, session.begin():
            ids = [await add_event(session, outbox, **joined(user)) for _ in range(30)]
        relay.notify()
        await listener.wait_for(30)
        relay.notify()  # a second wake-up finds nothing left to send
        await asyncio.sleep(0.2)
    assert [m.message_id for m in listener.messages] == ids  # in order, once each
    message = listener.messages[0]
    assert message.type == "room.joined.v1"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert "traceparent" in (message.headers or {})
    assert "x-chat-persistent" not in (message.headers or {})
    assert orjson.loads(message.body)["user_id"] == user
    assert await unpublished(rt_sessions) == 0


async def test_relay_drains_leftovers_at_start(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = listener.user
    async with rt_sessions() as session, session.begin():
        first = await add_event(session, outbox, **joined(user))
    # No notify: start alone must publish what is pending.
    async with running(OutboxRelay(rt_sessions, outbox, rt_broker, poll_interval_s=30)):
        await listener.wait_for(1)
    assert listener.messages[0].message_id == first


class CrashAfterPublish:
    """Publishes for real, then dies before the relay can mark the row."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def publish(self, *args: Any, **kwargs: Any) -> PublishResult:
        await self.broker.publish(*args, **kwargs)
        raise SystemError("process killed between publish and mark")


async def test_relay_restarted_after_publish_before_mark_republishes_same_message_id(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = listener.user
    async with rt_sessions() as session, session.begin():
        message_id = await add_event(session, outbox, **joined(user))
    crashing = OutboxRelay(rt_sessions, outbox, CrashAfterPublish(rt_broker))  # type: ignore[arg-type]
    with pytest.raises(SystemError):
        await crashing.drain_once()
    assert await unpublished(rt_sessions) == 1
    restarted = OutboxRelay(rt_sessions, outbox, rt_broker)
    assert await restarted.drain_once() == 1
    await listener.wait_for(2)
    assert [m.message_id for m in listener.messages] == [message_id, message_id]
    assert await unpublished(rt_sessions) == 0


async def test_two_relays_do_not_publish_the_same_row_twice(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = listener.user
    async with rt_sessions() as session, session.begin():
        ids = [await add_event(session, outbox, **joined(user)) for _ in range(40)]
    a = OutboxRelay(rt_sessions, outbox, rt_broker, batch_size=5)
    b = OutboxRelay(rt_sessions, outbox, rt_broker, batch_size=5)

    async def drain(relay: OutboxRelay) -> None:
        while await relay.drain_once():
            pass

    await asyncio.gather(drain(a), drain(b))
    await listener.wait_for(40)
    await asyncio.sleep(0.2)
    assert sorted(m.message_id or "" for m in listener.messages) == sorted(ids)
    assert a.published_total + b.published_total == 40


async def test_relay_survives_a_broker_outage(
    listener: Listener,
    rt_amqp_url: str,
    rt_broker: Broker,
    rt_sessions: async_sessionmaker[AsyncSession],
) -> None:
    user = listener.user
    down = Broker(rt_amqp_url, service="relay-test")  # never connected: every publish fails
    relay = OutboxRelay(rt_sessions, outbox, down, poll_interval_s=30, retry_initial_s=0.05)
    try:
        async with running(relay):
            async with rt_sessions() as session, session.begin():
                message_id = await add_event(session, outbox, **joined(user))
            relay.notify()
            await asyncio.sleep(0.3)
            assert relay.running
            assert await unpublished(rt_sessions) == 1
            await down.connect()  # the broker comes back
            await listener.wait_for(1)
    finally:
        await down.close()
    assert listener.messages[0].message_id == message_id


async def test_outbox_event_keeps_the_writers_correlation_id_and_trace(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    from chat_runtime.logging import bind_correlation_id, correlation_id_var
    from chat_runtime.tracing import configure_tracing, get_tracer

    configure_tracing("runtime-test", "9.9.9", "none")
    user = listener.user
    token = bind_correlation_id("req-42")
    try:
        with get_tracer().start_as_current_span("request") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            async with rt_sessions() as session, session.begin():
                await add_event(session, outbox, **joined(user))
    finally:
        correlation_id_var.reset(token)
    # The relay runs later, outside the request: the row carries the context.
    assert await OutboxRelay(rt_sessions, outbox, rt_broker).drain_once() == 1
    await listener.wait_for(1)
    message = listener.messages[0]
    assert message.correlation_id == "req-42"
    assert str((message.headers or {})["traceparent"]).split("-")[1] == trace_id


async def test_a_batch_larger_than_one_drain_keeps_seq_order(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = listener.user
    async with rt_sessions() as session, session.begin():
        ids = await add_events(session, outbox, [OutboxEvent(**joined(user)) for _ in range(700)])
    relay = OutboxRelay(rt_sessions, outbox, rt_broker, batch_size=500)
    assert await relay.drain_once() == 500  # one pass: published without awaiting each confirm
    assert await relay.drain_once() == 200
    assert await relay.drain_once() == 0
    await listener.wait_for(700)
    assert [m.message_id for m in listener.messages] == ids
    assert await unpublished(rt_sessions) == 0


class NackOnce:
    """The real broker, except that one message is refused (as a broker nack) the first time."""

    def __init__(self, broker: Broker, message_id: str) -> None:
        self.broker = broker
        self.message_id = message_id
        self.refused = 0

    async def publish(
        self, exchange: str, messages: list[OutgoingMessage], **kwargs: Any
    ) -> PublishResult:
        refused = [m.message_id == self.message_id and not self.refused for m in messages]
        sent = [m for m, r in zip(messages, refused, strict=True) if not r]
        results = iter(await self.broker.publish(exchange, sent, **kwargs))
        if any(refused):
            self.refused += 1
        return PublishResult(
            PublishError("broker refused the message (nack)") if r else next(results)
            for r in refused
        )


async def test_a_nack_in_the_middle_republishes_from_that_row_in_order(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = listener.user
    async with rt_sessions() as session, session.begin():
        ids = await add_events(session, outbox, [OutboxEvent(**joined(user)) for _ in range(10)])
    broker = NackOnce(rt_broker, ids[4])
    relay = OutboxRelay(rt_sessions, outbox, broker, batch_size=500)  # type: ignore[arg-type]
    with pytest.raises(PublishError):
        await relay.drain_once()
    # Rows 1-4 are marked; the refused row and everything after it stay for the next pass,
    # even though rows 6-10 were confirmed.
    assert relay.published_total == 4
    assert await unpublished(rt_sessions) == 6
    assert relay.current_batch_size == 250  # a failed pass halves the next batch
    assert await relay.drain_once() == 6
    assert relay.current_batch_size == 500  # and a clean one restores it
    await listener.wait_for(9 + 6)
    assert [m.message_id for m in listener.messages] == ids[:4] + ids[5:] + ids[4:]
    assert await unpublished(rt_sessions) == 0
    assert broker.refused == 1


async def test_add_events_inserts_many_rows_like_add_event(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    from chat_runtime.logging import bind_correlation_id, correlation_id_var

    user = listener.user
    token = bind_correlation_id("req-bulk")
    try:
        async with rt_sessions() as session, session.begin():
            ids = await add_events(
                session,
                outbox,
                [
                    OutboxEvent(**joined(user)),
                    OutboxEvent(**joined(user), message_id="fixed-id", correlation_id="own"),
                    OutboxEvent(**joined(user), persistent=False, headers={"x-extra": "1"}),
                ],
            )
            assert await add_events(session, outbox, []) == []
    finally:
        correlation_id_var.reset(token)
    assert ids[1] == "fixed-id"
    assert len(set(ids)) == 3
    assert await OutboxRelay(rt_sessions, outbox, rt_broker).drain_once() == 3
    await listener.wait_for(3)
    first, second, third = listener.messages
    assert [m.message_id for m in listener.messages] == ids
    assert first.correlation_id == "req-bulk"
    assert second.correlation_id == "own"
    assert "traceparent" in (first.headers or {})
    assert third.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT
    assert (third.headers or {})["x-extra"] == "1"
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_a_row_keeps_the_contract_name_and_the_struct_as_json(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    event = joined(listener.user)
    async with rt_sessions() as session, session.begin():
        await add_event(session, outbox, **event)
    async with rt_sessions() as session:
        row = (await session.execute(sa.select(outbox.c.type_name, outbox.c.body))).one()
    body: RoomJoinedV1 = event["body"]
    assert row.type_name == "room.joined.v1"
    assert row.body == {"user_id": body.user_id, "room_id": body.room_id}
    assert await OutboxRelay(rt_sessions, outbox, rt_broker).drain_once() == 1
    await listener.wait_for(1)
    assert listener.messages[0].type == "room.joined.v1"
    assert orjson.loads(listener.messages[0].body) == row.body


async def test_handed_off_rows_are_published_from_memory_in_order_and_marked(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = listener.user
    relay = OutboxRelay(rt_sessions, outbox, rt_broker, poll_interval_s=30)
    async with running(relay, past_startup=True):
        ids: list[str] = []
        for _ in range(3):  # three transactions, each handed over after its commit
            async with rt_sessions() as session:
                async with session.begin():
                    ids += await add_events(
                        session, outbox, [OutboxEvent(**_event(user)) for _ in range(5)]
                    )
                relay.after_commit(session)
        await listener.wait_for(15)
        await _wait_until_async(lambda: unpublished(rt_sessions), 0)
    assert [m.message_id for m in listener.messages] == ids
    assert relay.published_total == 15


async def test_a_failed_handoff_falls_back_to_the_table(
    listener: Listener,
    rt_amqp_url: str,
    rt_broker: Broker,
    rt_sessions: async_sessionmaker[AsyncSession],
) -> None:
    user = listener.user
    flaky = Broker(rt_amqp_url, service="relay-test")
    await flaky.connect()
    relay = OutboxRelay(rt_sessions, outbox, flaky, poll_interval_s=30, retry_initial_s=0.05)
    try:
        async with running(relay, past_startup=True):
            await flaky.close()  # the broker link is gone when the rows are handed over
            async with rt_sessions() as session:
                async with session.begin():
                    message_id = await add_event(session, outbox, **joined(user))
                relay.after_commit(session)
            await _wait_until(lambda: relay._from_table)  # memory given up: the table rules
            assert await unpublished(rt_sessions) == 1
            await flaky.connect()
            await listener.wait_for(1)
            await _wait_until_async(lambda: unpublished(rt_sessions), 0)  # marked after confirm
    finally:
        await flaky.close()
    assert [m.message_id for m in listener.messages] == [message_id]


async def test_rows_nobody_published_are_swept_once_stale(
    listener: Listener, rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A replica that died between its commit and its publish and never came back: a peer's
    relay publishes its rows once they are older than stale_after_s, without a notify."""
    user = listener.user
    relay = OutboxRelay(rt_sessions, outbox, rt_broker, poll_interval_s=0.2, stale_after_s=0.5)
    async with running(relay, past_startup=True):
        async with rt_sessions() as session, session.begin():
            message_id = await add_event(session, outbox, **joined(user))  # never handed over
        await asyncio.sleep(0.3)
        assert listener.messages == []  # not stale yet
        await listener.wait_for(1)
    assert [m.message_id for m in listener.messages] == [message_id]


def _event(user: str) -> dict[str, Any]:
    values = joined(user)
    return {k: values[k] for k in ("routing_key", "body")}


async def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def _wait_until_async(
    probe: Callable[[], Awaitable[int]], expected: int, timeout: float = 10.0
) -> None:
    async with asyncio.timeout(timeout):
        while await probe() != expected:
            await asyncio.sleep(0.02)


async def test_prune_deletes_only_rows_published_long_enough_ago(
    rt_broker: Broker, rt_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = str(uuid.uuid4())
    async with rt_sessions() as session, session.begin():
        await add_events(session, outbox, [OutboxEvent(**_event(user)) for _ in range(3)])
    relay = OutboxRelay(rt_sessions, outbox, rt_broker, keep_published_s=0.2)
    await relay.drain_once()  # everything published so far
    async with rt_sessions() as session, session.begin():
        waiting = await add_event(session, outbox, **joined(user))  # not published
    assert await relay.prune() == 0  # published too recently
    await asyncio.sleep(0.3)
    assert await relay.prune() >= 3
    async with rt_sessions() as session:
        left = (await session.execute(sa.select(outbox.c.message_id))).scalars().all()
    assert waiting in left  # an unpublished row is never deleted
    assert await unpublished(rt_sessions) == 1
