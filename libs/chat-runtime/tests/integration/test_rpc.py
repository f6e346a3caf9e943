import asyncio
import uuid
from typing import Any

import pytest
from chat_contracts.names import AUTH_QUERY_QUEUE, MEMBERSHIP_QUERY_V1, MESSAGE_QUERY_QUEUE
from chat_contracts.types import (
    AuthRevocationsQueryV1,
    AuthRevocationsReplyV1,
    MembershipQueryV1,
    MembershipReplyV1,
)
from chat_runtime.messaging import Broker, Envelope, RequestTimeout

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_request_reply_round_trip(rt_broker: Broker) -> None:
    seen: list[Envelope[MembershipQueryV1]] = []
    room = str(uuid.uuid4())

    async def responder(envelope: Envelope[MembershipQueryV1]) -> MembershipReplyV1:
        seen.append(envelope)
        return MembershipReplyV1(user_id=envelope.body.user_id, room_ids=[room])

    user = str(uuid.uuid4())
    handle = await rt_broker.serve(MESSAGE_QUERY_QUEUE, MEMBERSHIP_QUERY_V1, responder)
    try:
        replies = await asyncio.gather(
            *(
                rt_broker.request(
                    MESSAGE_QUERY_QUEUE,
                    MembershipQueryV1(user_id=user),
                    reply_type=MembershipReplyV1,
                )
                for _ in range(3)
            )
        )
    finally:
        await handle.cancel()
    assert replies == [MembershipReplyV1(user_id=user, room_ids=[room])] * 3
    assert [e.body for e in seen] == [MembershipQueryV1(user_id=user)] * 3
    assert all(e.type_name == MEMBERSHIP_QUERY_V1 for e in seen)


async def test_request_without_a_responder_times_out(rt_broker: Broker) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RequestTimeout):
        await rt_broker.request(
            AUTH_QUERY_QUEUE,
            AuthRevocationsQueryV1(),
            reply_type=AuthRevocationsReplyV1,
            timeout=0.3,
        )
    assert loop.time() - started < 2


async def test_request_to_a_missing_queue_fails_fast(rt_broker: Broker) -> None:
    with pytest.raises(RequestTimeout):
        await rt_broker.request(
            "no-such-queue", AuthRevocationsQueryV1(), reply_type=AuthRevocationsReplyV1
        )


async def test_a_reply_breaking_its_contract_fails_the_request(rt_broker: Broker) -> None:
    async def responder(envelope: Envelope[MembershipQueryV1]) -> MembershipReplyV1:
        return MembershipReplyV1(user_id="not-a-uuid", room_ids=[])  # built unchecked

    handle = await rt_broker.serve(MESSAGE_QUERY_QUEUE, MEMBERSHIP_QUERY_V1, responder)
    try:
        with pytest.raises(ValueError, match="user_id"):
            await rt_broker.request(
                MESSAGE_QUERY_QUEUE,
                MembershipQueryV1(user_id=str(uuid.uuid4())),
                reply_type=MembershipReplyV1,
                timeout=2,
            )
    finally:
        await handle.cancel()


async def test_an_invalid_request_is_dead_lettered_without_reaching_the_responder(
    rt_broker: Broker, rt_logs: list[dict[str, Any]]
) -> None:
    calls = 0

    async def responder(envelope: Envelope[MembershipQueryV1]) -> MembershipReplyV1:
        nonlocal calls
        calls += 1
        return MembershipReplyV1(user_id=envelope.body.user_id, room_ids=[])

    handle = await rt_broker.serve(MESSAGE_QUERY_QUEUE, MEMBERSHIP_QUERY_V1, responder)
    try:
        with pytest.raises(RequestTimeout):
            await rt_broker.request(
                MESSAGE_QUERY_QUEUE,
                MembershipQueryV1(user_id="nope"),  # publishing does not validate
                reply_type=MembershipReplyV1,
                timeout=0.5,
            )
    finally:
        await handle.cancel()
    assert calls == 0
    assert any(line["event"] == "invalid_message_dead_lettered" for line in rt_logs)


async def test_a_failing_responder_drops_the_request_and_keeps_serving(rt_broker: Broker) -> None:
    calls = 0

    async def responder(envelope: Envelope[MembershipQueryV1]) -> MembershipReplyV1:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in the responder")
        return MembershipReplyV1(user_id=envelope.body.user_id, room_ids=[])

    user = str(uuid.uuid4())
    query = MembershipQueryV1(user_id=user)
    handle = await rt_broker.serve(MESSAGE_QUERY_QUEUE, MEMBERSHIP_QUERY_V1, responder)
    try:
        with pytest.raises(RequestTimeout):
            await rt_broker.request(
                MESSAGE_QUERY_QUEUE, query, reply_type=MembershipReplyV1, timeout=0.5
            )
        reply = await rt_broker.request(MESSAGE_QUERY_QUEUE, query, reply_type=MembershipReplyV1)
    finally:
        await handle.cancel()
    assert reply == MembershipReplyV1(user_id=user, room_ids=[])
    assert calls == 2  # the failed request was not redelivered
