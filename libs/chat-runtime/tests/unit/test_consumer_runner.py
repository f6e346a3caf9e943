"""The consumer runner with fake deliveries: decoding, ordering of handler and acknowledgement."""

import asyncio
import dataclasses
import json
from typing import Any, cast

import msgspec
import pytest
from aio_pika.exceptions import ChannelInvalidStateError
from chat_runtime.messaging import BatchResult, Envelope, InfrastructureError
from chat_runtime.messaging import consumer as consumer_mod
from chat_runtime.messaging.consumer import ConsumerHandle

pytestmark = pytest.mark.unit


class Thing(msgspec.Struct, frozen=True, kw_only=True):
    n: int


class FakeContracts:
    """Both known types decode as `Thing`; msgspec raises a ValueError for a bad body."""

    def decode(self, type_name: str, data: bytes) -> Thing:
        return msgspec.json.decode(data, type=Thing)

    def is_known(self, type_name: str) -> bool:
        return type_name in {"thing.v1", "other.v1"}


class FakeChannel:
    is_closed = False


CHANNEL = FakeChannel()  # deliveries of one consumer share its channel (and its tag sequence)


class FakeMessage:
    def __init__(self, journal: list[str], type_name: str, body: Any, tag: int) -> None:
        self.journal = journal
        self.type = type_name
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.tag = tag
        self.delivery_tag = tag
        self.channel = CHANNEL
        self.headers: dict[str, Any] = {}
        self.message_id = f"m{tag}"
        self.correlation_id = f"c{tag}"
        self.routing_key = "rk"
        self.redelivered = False
        self.reply_to = None
        self.exchange = "chat.commands"
        self.processed = False

    async def ack(self, multiple: bool = False) -> None:
        self.processed = True
        self.journal.append(f"ack {self.tag}" + (" and all before" if multiple else ""))

    async def nack(self, requeue: bool = True) -> None:
        self.processed = True
        self.journal.append(f"nack {self.tag} requeue={requeue}")

    async def reject(self, requeue: bool = False) -> None:
        self.processed = True
        self.journal.append(f"reject {self.tag} requeue={requeue}")


def runner(handlers: Any, **kwargs: Any) -> ConsumerHandle:
    return ConsumerHandle(cast(Any, None), "q", handlers, contracts=FakeContracts(), **kwargs)


async def process(handle: ConsumerHandle, messages: list[FakeMessage]) -> None:
    await handle._process(cast(Any, messages))


async def test_ack_only_after_the_handler_returns() -> None:
    journal: list[str] = []

    async def handler(envelope: Envelope[Thing]) -> None:
        journal.append(f"start {envelope.message_id}")
        await asyncio.sleep(0)
        journal.append(f"end {envelope.message_id}")

    await process(
        runner({"thing.v1": handler}),
        [
            FakeMessage(journal, "thing.v1", {"n": 1}, 1),
            FakeMessage(journal, "thing.v1", {"n": 2}, 2),
        ],
    )
    assert journal == ["start m1", "end m1", "ack 1", "start m2", "end m2", "ack 2"]


async def test_the_envelope_body_is_the_decoded_struct_and_raw_the_bytes() -> None:
    journal: list[str] = []
    seen: list[Envelope[Thing]] = []

    async def handler(envelope: Envelope[Thing]) -> None:
        seen.append(envelope)

    message = FakeMessage(journal, "thing.v1", {"n": 7, "extra": "ignored"}, 1)
    message.headers = {"x-delivery-count": 2, "x-correlation-id": b"caller"}
    await process(runner({"thing.v1": handler}), [message])
    [envelope] = seen
    assert envelope.body == Thing(n=7)
    assert envelope.raw == message.body
    assert (envelope.type_name, envelope.message_id, envelope.delivery_count) == (
        "thing.v1",
        "m1",
        2,
    )
    assert envelope.headers["x-correlation-id"] == "caller"  # bytes headers arrive as text
    assert journal == ["ack 1"]


async def test_invalid_unknown_and_failing_messages_are_settled_by_the_rules() -> None:
    journal: list[str] = []
    handled: list[str] = []

    async def handler(envelope: Envelope[Thing]) -> None:
        handled.append(envelope.message_id or "")
        if envelope.body.n == 3:
            raise KeyError("bug")

    messages = [
        FakeMessage(journal, "thing.v1", {"n": "x"}, 1),  # schema-invalid
        FakeMessage(journal, "thing.v1", b"{not json", 2),  # not JSON
        FakeMessage(journal, "thing.v1", {"n": 3}, 3),  # handler raises
        FakeMessage(journal, "mystery.v1", {"n": 4}, 4),  # unknown type
        FakeMessage(journal, "other.v1", {"n": 5}, 5),  # known, but no handler here
    ]
    await process(runner({"thing.v1": handler}), messages)
    assert journal == [
        "reject 1 requeue=False",
        "reject 2 requeue=False",
        "ack 4",
        "ack 5",
        "nack 3 requeue=True",
    ]
    assert handled == ["m3"]


async def test_infrastructure_errors_are_retried_without_settling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_mod, "RETRY_INITIAL_S", 0.001)
    journal: list[str] = []
    attempts = 0

    async def handler(envelope: Envelope[Thing]) -> None:
        nonlocal attempts
        attempts += 1
        journal.append(f"try {attempts}")
        if attempts == 1:
            raise InfrastructureError("db down")
        if attempts == 2:
            raise ConnectionRefusedError("db still down")  # recognised connection-level error

    await process(runner({"thing.v1": handler}), [FakeMessage(journal, "thing.v1", {"n": 1}, 1)])
    assert journal == ["try 1", "try 2", "try 3", "ack 1"]


async def test_batch_handler_gets_valid_messages_and_all_are_acked() -> None:
    journal: list[str] = []
    batches: list[list[int]] = []

    async def handler(envelopes: list[Envelope[Thing]]) -> None:
        batches.append([e.body.n for e in envelopes])
        journal.append("handled")

    messages = [FakeMessage(journal, "thing.v1", {"n": i}, i) for i in (1, 3, 4)]
    messages.insert(1, FakeMessage(journal, "thing.v1", {"n": "bad"}, 2))
    await process(runner({"*": handler}, batch=True), messages)
    assert batches == [[1, 3, 4]]
    # One basic.ack(multiple) for the batch: tag 2 was settled on admission, so it is not open.
    assert journal == ["reject 2 requeue=False", "handled", "ack 4 and all before"]


async def test_batch_spanning_channels_is_acked_with_one_multiple_ack_per_channel() -> None:
    journal: list[str] = []

    async def handler(envelopes: list[Envelope[Thing]]) -> None:
        journal.append("handled")

    messages = [FakeMessage(journal, "thing.v1", {"n": i}, i) for i in (5, 6, 7)]
    messages[1].channel = FakeChannel()  # another queue's channel (each queue has its own)
    await process(runner({"*": handler}, batch=True), messages)
    assert journal == ["handled", "ack 7 and all before", "ack 6"]


async def test_batch_out_of_tag_order_on_a_channel_is_acked_one_by_one() -> None:
    journal: list[str] = []

    async def handler(envelopes: list[Envelope[Thing]]) -> None:
        journal.append("handled")

    messages = [FakeMessage(journal, "thing.v1", {"n": i}, i) for i in (5, 7, 6)]
    await process(runner({"*": handler}, batch=True), messages)
    assert journal == ["handled", "ack 5", "ack 7", "ack 6"]


async def test_no_ack_consumer_settles_nothing() -> None:
    journal: list[str] = []
    handled: list[int] = []

    async def handler(envelope: Envelope[Thing]) -> None:
        handled.append(envelope.body.n)
        if envelope.body.n == 2:
            raise KeyError("bug")

    messages = [FakeMessage(journal, "thing.v1", {"n": i}, i) for i in (1, 2)]
    messages.append(FakeMessage(journal, "thing.v1", {"n": "bad"}, 3))
    await process(runner({"thing.v1": handler}, no_ack=True), messages)
    assert handled == [1, 2]
    assert journal == []  # the broker settled them on delivery


async def test_failed_batch_is_requeued_whole() -> None:
    journal: list[str] = []

    async def handler(envelopes: list[Envelope[Thing]]) -> None:
        raise RuntimeError("bug")

    messages = [FakeMessage(journal, "thing.v1", {"n": i}, i) for i in range(1, 3)]
    await process(runner({"*": handler}, batch=True), messages)
    assert journal == ["nack 1 requeue=True", "nack 2 requeue=True"]


def test_batch_mode_needs_exactly_one_star_handler() -> None:
    async def handler(envelopes: list[Envelope[Thing]]) -> None:
        pass

    with pytest.raises(ValueError, match="exactly one handler"):
        runner({"thing.v1": handler}, batch=True)


async def test_batch_result_settles_each_envelope_by_its_outcome() -> None:
    journal: list[str] = []

    async def handler(envelopes: list[Envelope[Thing]]) -> BatchResult:
        journal.append("handled")
        result = BatchResult()
        for envelope in envelopes:
            if envelope.body.n == 2:
                result.dead_letter(envelope)  # poison: straight to the DLX
            elif envelope.body.n == 3:
                result.retry(envelope)  # transient: redelivered, counts against the limit
        return result.ack(envelopes[0])

    messages = [FakeMessage(journal, "thing.v1", {"n": i}, i) for i in range(1, 5)]
    await process(runner({"*": handler}, batch=True), messages)
    assert journal == [
        "handled",
        "ack 1",
        "reject 2 requeue=False",
        "nack 3 requeue=True",
        "ack 4",
    ]


async def test_batch_result_ignores_an_equal_but_different_envelope() -> None:
    journal: list[str] = []

    async def handler(envelopes: list[Envelope[Thing]]) -> BatchResult:
        # A copy is equal but not the delivery the runner handed over: it settles nothing.
        return BatchResult().dead_letter(dataclasses.replace(envelopes[0]))

    await process(
        runner({"*": handler}, batch=True), [FakeMessage(journal, "thing.v1", {"n": 1}, 1)]
    )
    assert journal == ["ack 1"]


async def test_infrastructure_error_in_a_batch_still_holds_then_settles_per_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_mod, "RETRY_INITIAL_S", 0.001)
    journal: list[str] = []
    attempts = 0

    async def handler(envelopes: list[Envelope[Thing]]) -> BatchResult:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise InfrastructureError("db down")
        return BatchResult().retry(envelopes[1])

    messages = [FakeMessage(journal, "thing.v1", {"n": i}, i) for i in range(1, 3)]
    await process(runner({"*": handler}, batch=True), messages)
    assert attempts == 2
    assert journal == ["ack 1", "nack 2 requeue=True"]


async def test_dispatch_by_type_runs_each_handler_in_order_past_a_failing_one() -> None:
    from chat_runtime.messaging import dispatch_by_type

    journal: list[str] = []
    handled: list[str] = []

    async def thing(envelope: Envelope[Thing]) -> None:
        handled.append(f"thing {envelope.body.n}")
        if envelope.body.n == 2:
            raise KeyError("bug")

    async def other(envelope: Envelope[Thing]) -> None:
        handled.append(f"other {envelope.body.n}")

    messages = [
        FakeMessage(journal, "thing.v1", {"n": 1}, 1),
        FakeMessage(journal, "thing.v1", {"n": 2}, 2),  # its handler fails: the batch goes on
        FakeMessage(journal, "other.v1", {"n": 3}, 3),
        FakeMessage(journal, "mystery.v1", {"n": 4}, 4),  # unknown: never reaches a handler
        FakeMessage(journal, "thing.v1", {"n": "bad"}, 5),  # invalid: dropped at admission
        FakeMessage(journal, "thing.v1", {"n": 6}, 6),
    ]
    handle = runner(
        {"*": dispatch_by_type({"thing.v1": thing, "other.v1": other})},
        batch=True,
        no_ack=True,
    )
    await process(handle, messages)
    assert handled == ["thing 1", "thing 2", "other 3", "thing 6"]
    assert journal == []  # no_ack: nothing to settle


async def test_held_deliveries_are_given_up_unsettled_when_the_consumer_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_mod, "RETRY_INITIAL_S", 0.001)
    journal: list[str] = []
    handle = runner({"thing.v1": None})

    async def handler(envelope: Envelope[Thing]) -> None:
        journal.append("try")
        handle._stopping.set()  # cancel() arrives while the database is down
        raise InfrastructureError("db down")

    handle.handlers = {"thing.v1": handler}
    await process(handle, [FakeMessage(journal, "thing.v1", {"n": 1}, 1)])
    assert journal == ["try"]  # no retry after stopping, and no ack/nack: the broker redelivers


async def test_a_bug_met_while_retrying_after_an_outage_is_requeued_not_held_for_ever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_mod, "RETRY_INITIAL_S", 0.001)
    journal: list[str] = []
    attempts = 0

    async def handler(envelope: Envelope[Thing]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise InfrastructureError("db down")
        raise KeyError("bug")  # the database is back; this failure is not an outage

    await process(runner({"thing.v1": handler}), [FakeMessage(journal, "thing.v1", {"n": 1}, 1)])
    assert attempts == 2
    assert journal == ["nack 1 requeue=True"]


class ClosedChannelMessage(FakeMessage):
    """A delivery whose channel has closed: aio-pika's `message.channel` raises then (it never
    hands out a closed channel)."""

    @property
    def channel(self) -> FakeChannel:
        raise ChannelInvalidStateError

    @channel.setter
    def channel(self, value: FakeChannel) -> None:
        pass


async def test_a_delivery_whose_channel_closed_is_skipped_and_the_rest_of_the_batch_goes_on() -> (
    None
):
    """A queue given back (or a reconnect) closes its channel under a batch: its deliveries are
    back in the queue, so they are neither handled nor settled, and the batch's other
    deliveries are handled and acked in order; nothing is nacked (a nack would requeue another
    queue's delivery behind later ones and break that queue's order)."""
    journal: list[str] = []
    handled: list[int] = []

    async def batch_handler(envelopes: list[Envelope[Thing]]) -> None:
        handled.extend(e.body.n for e in envelopes)

    messages = [
        FakeMessage(journal, "thing.v1", {"n": 1}, 1),
        ClosedChannelMessage(journal, "thing.v1", {"n": 2}, 2),
        FakeMessage(journal, "thing.v1", {"n": 3}, 3),
    ]
    await process(runner({"*": batch_handler}, batch=True), messages)
    assert handled == [1, 3]
    assert not any(entry.startswith("nack") for entry in journal)
    assert "ack 3" in journal[-1]
