"""Private broker/database instances: start, survive a kill, keep data, never the shared ones."""

from __future__ import annotations

import asyncio

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage
from chat_devtools.infra import create_database
from chat_devtools.private import PrivatePostgres, PrivateRabbitMQ

pytestmark = pytest.mark.integration


async def _roundtrip(dsn: str, value: str | None = None) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS t (v text)")
        if value is not None:
            await conn.execute("INSERT INTO t VALUES ($1)", value)
        return [r["v"] for r in await conn.fetch("SELECT v FROM t ORDER BY v")]
    finally:
        await conn.close()


def test_private_postgres_survives_kill_and_keeps_committed_rows(
    private_postgres: PrivatePostgres,
) -> None:
    assert private_postgres.port != 5432
    assert create_database(private_postgres.database_url("chat_x")) is True
    assert create_database(private_postgres.database_url("chat_x")) is False
    dsn = private_postgres.database_url("chat_x").replace("+asyncpg", "")
    assert asyncio.run(_roundtrip(dsn, "before")) == ["before"]
    private_postgres.kill()
    assert not private_postgres.running
    with pytest.raises(OSError, match=r"(?i)refused|connect"):
        asyncio.run(_roundtrip(dsn))
    private_postgres.start()
    assert asyncio.run(_roundtrip(dsn, "after")) == ["after", "before"]


async def _publish(url: str, queue: str, queue_type: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": queue_type})
        # Awaiting the publish waits for the broker's confirm: from here on it must not be lost.
        await channel.default_exchange.publish(
            aio_pika.Message(b"kept", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=queue,
        )
    finally:
        await connection.close()


async def _consume_one(url: str, queue: str) -> bytes:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def on_message(message: AbstractIncomingMessage) -> None:
            if not got.done():
                got.set_result(message.body)

        await (await channel.get_queue(queue)).consume(on_message, no_ack=True)
        return await asyncio.wait_for(got, 10)
    finally:
        await connection.close()


def test_private_rabbitmq_keeps_confirmed_messages_across_stop_and_kill(
    private_rabbitmq: PrivateRabbitMQ,
) -> None:
    url = private_rabbitmq.url
    assert private_rabbitmq.port != 5672
    asyncio.run(_publish(url, "q-quorum", "quorum"))
    asyncio.run(_publish(url, "q-classic", "classic"))
    private_rabbitmq.stop()
    assert not private_rabbitmq.running
    private_rabbitmq.start()
    assert asyncio.run(_consume_one(url, "q-quorum")) == b"kept"
    private_rabbitmq.kill()
    assert not private_rabbitmq.running
    private_rabbitmq.start()
    # RabbitMQ 3.10 here may leave a quorum queue unusable for a while after a SIGKILL (its
    # consumers time out inside the broker), so the crash case is checked on a classic queue.
    assert asyncio.run(_consume_one(url, "q-classic")) == b"kept"
