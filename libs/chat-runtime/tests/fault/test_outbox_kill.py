"""Transactional outbox against real process deaths (SIGKILL), not in-process simulations:

- killed between the commit and the publish: a relay started afterwards publishes the event;
- killed after the broker confirmed the publish but before the row was marked: the restarted
  relay publishes it again with the same message_id, and a deduping consumer applies it once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from chat_contracts.names import EXCHANGE_EVENTS
from chat_contracts.types import RoomJoinedV1
from chat_devtools.private import PrivatePostgres, PrivateRabbitMQ
from chat_runtime.db import create_engine, ensure_database, session_factory
from chat_runtime.messaging import Broker, Envelope
from chat_runtime.messaging.outbox import OutboxRelay, outbox_table
from chat_runtime.messaging.topology import declare_exchanges, declare_quorum_queue
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = [pytest.mark.fault, pytest.mark.timeout(90)]

CHILD = Path(__file__).with_name("outbox_child.py")

metadata = sa.MetaData()
outbox = outbox_table(metadata)
applied = sa.Table(
    "applied",
    metadata,
    sa.Column("message_id", sa.Text, primary_key=True),
)


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    broker: Broker
    db_url: str
    amqp_url: str
    user: str
    deliveries: list[str] = field(default_factory=list)
    effects: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def unpublished(self) -> int:
        query = sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
        async with self.sessions() as session:
            return int((await session.execute(query)).scalar_one())

    async def applied_ids(self) -> list[str]:
        async with self.sessions() as session:
            return list((await session.execute(sa.select(applied.c.message_id))).scalars())

    async def wait_deliveries(self, count: int, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.deliveries) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest_asyncio.fixture
async def rtf_outbox_world(
    rtf_rabbitmq: PrivateRabbitMQ, rtf_postgres: PrivatePostgres
) -> AsyncIterator[World]:
    db_url = rtf_postgres.database_url("rtf_outbox")
    await ensure_database(db_url)
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    broker = Broker(rtf_rabbitmq.url, service="rtf-outbox")
    await broker.connect()
    await declare_exchanges(broker.channel)
    user = str(uuid.uuid4())
    world = World(session_factory(engine), broker, db_url, rtf_rabbitmq.url, user)
    queue = f"rtf.outbox.{user}"
    await declare_quorum_queue(
        broker.channel, queue, bindings=[(EXCHANGE_EVENTS, f"user.{user}.#")]
    )

    async def dedupe(envelope: Envelope[RoomJoinedV1]) -> None:
        message_id = envelope.message_id or ""
        async with world.sessions() as session, session.begin():
            result = await session.execute(
                insert(applied).values(message_id=message_id).on_conflict_do_nothing()
            )
        world.effects += result.rowcount  # type: ignore[attr-defined]
        world.deliveries.append(message_id)
        world.arrived.set()

    await broker.consume(queue, {"room.joined.v1": dedupe})
    try:
        yield world
    finally:
        await broker.close()
        await engine.dispose()


async def spawn(world: World, mode: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        mode,
        world.db_url,
        world.amqp_url,
        world.user,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_line(proc: asyncio.subprocess.Process, prefix: str) -> str:
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    if not line.startswith(prefix + " "):
        err = b"" if proc.stderr is None else await proc.stderr.read()
        raise AssertionError(f"child said {line!r}, expected {prefix!r}; stderr:\n{err.decode()}")
    return line.split(" ", 1)[1]


async def test_killed_between_commit_and_publish_the_next_relay_publishes(
    rtf_outbox_world: World,
) -> None:
    world = rtf_outbox_world
    child = await spawn(world, "commit")
    message_id = await read_line(child, "committed")
    child.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGKILL
    assert await world.unpublished() == 1  # committed, never published
    assert world.deliveries == []

    relay = OutboxRelay(world.sessions, outbox, world.broker, poll_interval_s=30)
    relay.start()  # start alone must drain what the dead process left
    try:
        await world.wait_deliveries(1)
    finally:
        await relay.stop()
    assert world.deliveries == [message_id]
    assert await world.unpublished() == 0
    assert await world.applied_ids() == [message_id]


async def test_killed_after_confirm_before_mark_republishes_once_with_same_id(
    rtf_outbox_world: World,
    rtf_wait_for: Callable[..., Awaitable[None]],
) -> None:
    world = rtf_outbox_world
    child = await spawn(world, "publish")
    message_id = await read_line(child, "committed")
    assert await read_line(child, "published") == message_id
    assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGKILL
    await world.wait_deliveries(1)
    assert await world.unpublished() == 1  # the confirm came, the mark never happened

    restarted = OutboxRelay(world.sessions, outbox, world.broker)
    assert await restarted.drain_once() == 1
    await world.wait_deliveries(2)
    assert world.deliveries == [message_id, message_id]  # same id: consumers can dedupe
    assert world.effects == 1
    assert await world.applied_ids() == [message_id]
    assert await world.unpublished() == 0
    assert await restarted.drain_once() == 0  # marked now: no third copy

    async def no_more() -> bool:
        return len(world.deliveries) == 2

    await rtf_wait_for(no_more, 1, "no further delivery")
