"""A poison command ends in its shard's dead-letter queue, not in a redelivery loop.

The command validates against its contract, but the data it meets makes the handler raise: a
trigger on `messages` (installed by this test in the private database) refuses the insert of one
particular text, as a corrupt row or a bug would. message-service retries it up to the queue's
delivery limit, then moves it to `message-service.send.<shard>.dead`, tells the sender
(`error` code `internal`), and keeps serving every other send of the same room meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio
from chat_runtime.messaging import shard_of
from faultkit import (
    DELIVERY_LIMIT,
    SEND_SHARDS,
    FaultStack,
    close_crowd,
    make_crowd,
    run_load,
    settle_and_verify,
)

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

POISON_SQL = """
CREATE SEQUENCE IF NOT EXISTS fault_poison_attempts;
CREATE OR REPLACE FUNCTION fault_poison_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.text LIKE 'POISON %' THEN
    -- nextval is not rolled back with the failing transaction: it counts the attempts.
    PERFORM nextval('fault_poison_attempts');
    RAISE EXCEPTION 'fault test: this message cannot be stored';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS fault_poison_guard ON messages;
CREATE TRIGGER fault_poison_guard BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION fault_poison_guard();
"""
UNDO_SQL = """
DROP TRIGGER IF EXISTS fault_poison_guard ON messages;
DROP FUNCTION IF EXISTS fault_poison_guard();
DROP SEQUENCE IF EXISTS fault_poison_attempts;
"""


@pytest_asyncio.fixture
async def poison_db(fault_stack: FaultStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fault_stack.messages_dsn)
    try:
        await conn.execute(POISON_SQL)
        yield conn
    finally:
        await conn.execute(UNDO_SQL)
        await conn.close()


async def attempts(conn: asyncpg.Connection) -> int:
    row = await conn.fetchrow("SELECT last_value, is_called FROM fault_poison_attempts")
    return int(row["last_value"]) if row["is_called"] else 0


async def dead_bodies(amqp_url: str, queue: str, *, remove: str) -> list[dict[str, object]]:
    """Everything in a dead-letter queue. The message whose client_msg_id is `remove` is taken
    out (an operator dealt with it, so later tests find the queue as before); the rest is put
    back."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        held: list[aio_pika.abc.AbstractIncomingMessage] = []
        while (message := await q.get(no_ack=False, fail=False)) is not None:
            held.append(message)
        bodies = [orjson.loads(m.body) for m in held]
        for message, body in zip(held, bodies, strict=True):
            if body.get("client_msg_id") == remove:
                await message.ack()
            else:
                await message.nack(requeue=True)
        return bodies
    finally:
        await connection.close()


async def test_poison_command_is_dead_lettered_not_looped(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient, poison_db: asyncpg.Connection
) -> None:
    fs = fault_stack
    crowd = await make_crowd(fs, fault_http, clients=10)
    try:
        room = next(iter(crowd.rooms))  # every client is a member
        dead_queue = f"message-service.send.{shard_of(room, SEND_SHARDS)}.dead"
        sender = crowd.clients[1]
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop, room=room))
        await asyncio.sleep(1.0)
        poison_id = await sender.send(room, f"POISON {uuid.uuid4()}")

        async def refused() -> None:
            while poison_id not in sender.rejected:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(refused(), 60)
        assert sender.rejected[poison_id] == "internal"
        tries = await attempts(poison_db)
        # Retried up to the delivery limit (each delivery tries it in its batch, then alone),
        # not dead-lettered at the first failure, and not beyond the limit.
        assert DELIVERY_LIMIT <= tries <= 2 * (DELIVERY_LIMIT + 1)
        await asyncio.sleep(2.0)  # load goes on; a loop would keep the counter moving
        stop.set()
        sent = await load
        assert await attempts(poison_db) == tries, "the poison command is still being retried"

        dead = await dead_bodies(fs.rabbitmq.url, dead_queue, remove=poison_id)
        assert [d["client_msg_id"] for d in dead].count(poison_id) == 1
        verdict = await settle_and_verify(fs, crowd, refusals=frozenset({"internal"}))
        # Nothing is left circling in the shard's command queue either.
        shard_queue = dead_queue.removesuffix(".dead")
        for _ in range(50):
            if fs.queue_depths().get(shard_queue) == 0:
                break
            await asyncio.sleep(0.2)
        assert fs.queue_depths().get(shard_queue) == 0
        # Every other send of the room went through; the poison is in no view and not stored.
        assert verdict.acked == sent
        assert poison_id not in sender.acked
    finally:
        await close_crowd(crowd)
