"""Reading a dead-letter queue as the administrator (tests of refusals that dead-letter unread)."""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractIncomingMessage


async def dead_letters(admin_url: str, queue: str, count: int) -> list[AbstractIncomingMessage]:
    """The first `count` messages of `queue`, waiting up to 20 s for them (dead-lettering is
    asynchronous in the broker and sends no event a client could await)."""
    got: list[AbstractIncomingMessage] = []
    connection = await aio_pika.connect(admin_url)
    async with connection:
        channel = await connection.channel()
        dead = await channel.declare_queue(queue, passive=True)
        async with asyncio.timeout(20):
            while len(got) < count:
                message = await dead.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                await message.ack()
                got.append(message)
    return got
