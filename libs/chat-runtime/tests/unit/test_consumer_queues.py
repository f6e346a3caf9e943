"""Queues added to and given back by a running consumer (one worker, a channel per queue), with a
fake broker connection: what is handled, what is acked, what is returned by a channel close."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

import msgspec
import pytest
from chat_runtime.messaging import BatchResult, Envelope
from chat_runtime.messaging.consumer import ConsumerHandle

pytestmark = pytest.mark.unit

Callback = Callable[[Any], Awaitable[None]]


class Thing(msgspec.Struct, frozen=True, kw_only=True):
    n: int


class FakeContracts:
    def decode(self, type_name: str, data: bytes) -> Thing:
        return msgspec.json.decode(data, type=Thing)

    def is_known(self, type_name: str) -> bool:
        return type_name == "thing.v1"


class FakeQueue:
    def __init__(self, channel: FakeChannel, name: str) -> None:
        self.channel = channel
        self.name = name

    async def consume(self, callback: Callback, no_ack: bool = False) -> str:
        self.channel.callback = callback
        self.channel.tag = f"ctag-{self.name}"
        return self.channel.tag

    async def cancel(self, tag: str) -> None:
        self.channel.journal.append(f"cancel {self.name}")


class FakeChannel:
    """One channel of the fake connection; it carries one queue's deliveries."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.is_closed = False
        self.callback: Callback | None = None
        self.tag = ""
        self.queue = ""
        self.next_tag = 0

    async def set_qos(self, prefetch_count: int) -> None:
        pass

    async def declare_queue(self, name: str, passive: bool = False) -> FakeQueue:
        self.queue = name
        return FakeQueue(self, name)

    async def close(self) -> None:
        if not self.is_closed:
            self.is_closed = True
            self.journal.append(f"close {self.queue} (its unacked deliveries go back)")

    async def deliver(self, n: int) -> FakeMessage:
        assert self.callback is not None
        assert not self.is_closed
        self.next_tag += 1
        message = FakeMessage(self, n, self.next_tag)
        await self.callback(message)
        return message


class FakeConnection:
    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.channels: list[FakeChannel] = []

    async def channel(self, publisher_confirms: bool = False) -> FakeChannel:
        channel = FakeChannel(self.journal)
        self.channels.append(channel)
        return channel

    def of(self, queue: str) -> FakeChannel:
        return [c for c in self.channels if c.queue == queue and not c.is_closed][-1]


class FakeMessage:
    def __init__(self, channel: FakeChannel, n: int, tag: int) -> None:
        self.channel = channel
        self.journal = channel.journal
        self.consumer_tag = channel.tag
        self.delivery_tag = tag
        self.type = "thing.v1"
        self.body = json.dumps({"n": n}).encode()
        self.headers: dict[str, Any] = {}
        self.message_id = f"{channel.queue}/{n}"
        self.correlation_id = None
        self.routing_key = "rk"
        self.redelivered = False
        self.reply_to = None
        self.exchange = "chat.commands"
        self.processed = False

    async def ack(self, multiple: bool = False) -> None:
        self.processed = True
        self.journal.append(f"ack {self.message_id}" + (" and before" if multiple else ""))

    async def nack(self, requeue: bool = True) -> None:
        self.processed = True
        self.journal.append(f"nack {self.message_id}")

    async def reject(self, requeue: bool = False) -> None:
        self.processed = True
        self.journal.append(f"reject {self.message_id}")


BatchFn = Callable[[list[Envelope[Thing]]], Awaitable[BatchResult | None]]


async def started(journal: list[str], handler: BatchFn) -> tuple[ConsumerHandle, FakeConnection]:
    connection = FakeConnection(journal)
    handle = ConsumerHandle(
        cast(Any, connection),
        [],
        {"*": handler},
        contracts=FakeContracts(),
        batch=True,
        max_wait_s=0.0,
        label="q.0,q.1",
    )
    await handle.start()
    return handle, connection


async def until(predicate: Callable[[], bool]) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(loop(), 5)


async def test_a_consumer_may_start_with_no_queue_and_take_them_while_it_runs() -> None:
    journal: list[str] = []
    seen: list[tuple[str, int]] = []

    async def handler(envelopes: list[Envelope[Thing]]) -> None:
        seen.extend((e.queue, e.body.n) for e in envelopes)

    handle, connection = await started(journal, handler)
    try:
        assert handle.queues == []
        assert handle.running
        await handle.add_queue("q.0")
        await handle.add_queue("q.1")
        await handle.add_queue("q.1")  # already consumed: nothing changes
        assert handle.queues == ["q.0", "q.1"]
        assert len(connection.channels) == 2  # a channel per queue
        await connection.of("q.0").deliver(1)
        await connection.of("q.1").deliver(2)
        await until(lambda: len(seen) == 2)
        assert seen == [("q.0", 1), ("q.1", 2)]  # each envelope says where it came from
        await until(lambda: "ack q.1/2" in journal)
        assert "ack q.0/1" in journal
    finally:
        await handle.cancel()


async def test_remove_queue_waits_for_the_batch_in_flight_then_gives_the_rest_back() -> None:
    journal: list[str] = []
    seen: list[str] = []
    in_batch = asyncio.Event()
    finish = asyncio.Event()

    async def handler(envelopes: list[Envelope[Thing]]) -> None:
        seen.extend(e.message_id or "" for e in envelopes)
        in_batch.set()
        await finish.wait()

    handle, connection = await started(journal, handler)
    try:
        await handle.add_queue("q.0")
        await handle.add_queue("q.1")
        channel = connection.of("q.0")
        await channel.deliver(1)
        await in_batch.wait()  # the batch with q.0/1 is being handled
        later = await channel.deliver(2)  # waits in the inbox behind it
        removing = asyncio.create_task(handle.remove_queue("q.0"))
        await asyncio.sleep(0.01)
        assert not removing.done()  # it waits for the batch in flight
        assert handle.queues == ["q.1"]  # but is already no longer consumed
        finish.set()
        await asyncio.wait_for(removing, 5)
        assert channel.is_closed
        assert journal.index("ack q.0/1") < journal.index(
            "close q.0 (its unacked deliveries go back)"
        )
        await connection.of("q.1").deliver(3)  # the worker goes on with the other queue
        await until(lambda: "ack q.1/3" in journal)
        assert "q.0/2" not in seen
        assert not later.processed
    finally:
        finish.set()
        await handle.cancel()


async def test_a_released_queue_is_given_back_unsettled_and_the_others_are_acked() -> None:
    journal: list[str] = []

    async def handler(envelopes: list[Envelope[Thing]]) -> BatchResult:
        result = BatchResult()
        for envelope in envelopes:
            if envelope.queue == "q.0" and envelope.body.n == 1:
                result.release(envelope)  # e.g. the shard's lease is not ours any more
        return result

    handle, connection = await started(journal, handler)
    try:
        await handle.add_queue("q.0")
        await handle.add_queue("q.1")
        q0, q1 = connection.of("q.0"), connection.of("q.1")
        # One batch: nothing yields between these, so the worker takes all three at once.
        messages = [await q0.deliver(1), await q0.deliver(2), await q1.deliver(3)]
        await until(lambda: "ack q.1/3" in journal)
        await until(lambda: q0.is_closed)
        assert handle.queues == ["q.1"]
        # q.0/2 was not released by the handler, but its queue was: it goes back with q.0/1.
        assert not messages[0].processed
        assert not messages[1].processed
        assert [line for line in journal if "q.0" in line] == [
            "close q.0 (its unacked deliveries go back)"
        ]
        await handle.add_queue("q.0")  # taken again later: a new channel
        assert handle.queues == ["q.1", "q.0"]
        assert not connection.of("q.0").is_closed
    finally:
        await handle.cancel()


async def test_cancel_closes_every_queue_channel() -> None:
    journal: list[str] = []

    async def handler(envelopes: list[Envelope[Thing]]) -> None:
        pass

    handle, connection = await started(journal, handler)
    await handle.add_queue("q.0")
    await handle.add_queue("q.1")
    await handle.cancel()
    assert all(c.is_closed for c in connection.channels)
    assert handle.queues == []
    assert not handle.running
    with pytest.raises(RuntimeError, match="stopping"):
        await handle.add_queue("q.0")


def test_a_consumer_with_no_queue_needs_a_label() -> None:
    async def handler(envelopes: list[Envelope[Thing]]) -> None:
        pass

    with pytest.raises(ValueError, match="label"):
        ConsumerHandle(cast(Any, None), [], {"*": handler}, contracts=FakeContracts(), batch=True)
