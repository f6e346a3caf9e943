import asyncio
import uuid
from typing import Any

import pytest
from chat_runtime.messaging import Broker, RequestTimeout
from chat_runtime.messaging.topology import AUTH_QUERY_QUEUE, MESSAGE_QUERY_QUEUE

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_request_reply_round_trip(rt_broker: Broker) -> None:
    seen: list[dict[str, Any]] = []

    async def responder(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        seen.append(body)
        return "membership.reply.v1", {"user_id": body["user_id"], "room_ids": [room]}

    room = str(uuid.uuid4())
    user = str(uuid.uuid4())
    handle = await rt_broker.serve(MESSAGE_QUERY_QUEUE, "membership.query.v1", responder)
    try:
        replies = await asyncio.gather(
            *(
                rt_broker.request(MESSAGE_QUERY_QUEUE, "membership.query.v1", {"user_id": user})
                for _ in range(3)
            )
        )
    finally:
        await handle.cancel()
    assert replies == [{"user_id": user, "room_ids": [room]}] * 3
    assert seen == [{"user_id": user}] * 3


async def test_request_without_a_responder_times_out(rt_broker: Broker) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RequestTimeout):
        await rt_broker.request(AUTH_QUERY_QUEUE, "auth.revocations.query.v1", {}, timeout=0.3)
    assert loop.time() - started < 2


async def test_request_to_a_missing_queue_fails_fast(rt_broker: Broker) -> None:
    with pytest.raises(RequestTimeout):
        await rt_broker.request("no-such-queue", "auth.revocations.query.v1", {}, timeout=5)


async def test_request_body_is_checked_against_its_contract(rt_broker: Broker) -> None:
    with pytest.raises(ValueError, match="user_id"):
        await rt_broker.request(MESSAGE_QUERY_QUEUE, "membership.query.v1", {}, timeout=1)


async def test_a_failing_responder_drops_the_request_and_keeps_serving(rt_broker: Broker) -> None:
    calls = 0

    async def responder(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in the responder")
        return "membership.reply.v1", {"user_id": body["user_id"], "room_ids": []}

    user = str(uuid.uuid4())
    handle = await rt_broker.serve(MESSAGE_QUERY_QUEUE, "membership.query.v1", responder)
    try:
        with pytest.raises(RequestTimeout):
            await rt_broker.request(
                MESSAGE_QUERY_QUEUE, "membership.query.v1", {"user_id": user}, timeout=0.5
            )
        reply = await rt_broker.request(
            MESSAGE_QUERY_QUEUE, "membership.query.v1", {"user_id": user}
        )
    finally:
        await handle.cancel()
    assert reply == {"user_id": user, "room_ids": []}
    assert calls == 2  # the failed request was not redelivered
