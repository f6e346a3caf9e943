"""A consumer whose PostgreSQL is stopped for 10 s while commands keep arriving loses nothing and
dead-letters nothing: the runner holds the deliveries (InfrastructureError path) instead of
requeueing them into the quorum delivery limit, and every command is committed exactly once after
the database is back. Real private RabbitMQ and PostgreSQL processes; the database is stopped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from chat_contracts.names import EXCHANGE_COMMANDS, dead_queue
from chat_contracts.types import RoomReadV1
from chat_devtools.private import PrivatePostgres, PrivateRabbitMQ
from chat_runtime.db import create_engine, ensure_database, session_factory
from chat_runtime.messaging import Broker, Envelope, OutgoingMessage
from chat_runtime.messaging.topology import declare_exchanges, declare_quorum_queue
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]

OUTAGE_S = 10.0
# Low on purpose: a runner that requeued on database errors would dead-letter within seconds.
DELIVERY_LIMIT = 2
BEFORE, DURING, AFTER = 40, 120, 40
TOTAL = BEFORE + DURING + AFTER

metadata = sa.MetaData()
handled = sa.Table(
    "handled",
    metadata,
    sa.Column("queue", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("message_id", sa.Text, nullable=False),
)


@dataclass
class Stats:
    attempts: int = 0
    failures: int = 0
    commits: int = 0
    errors: list[str] = field(default_factory=list)


def make_handlers(
    sessions: async_sessionmaker[AsyncSession], queue: str, stats: Stats
) -> tuple[
    Callable[[Envelope[RoomReadV1]], Awaitable[None]],
    Callable[[list[Envelope[RoomReadV1]]], Awaitable[None]],
]:
    async def store(envelopes: list[Envelope[RoomReadV1]]) -> None:
        stats.attempts += 1
        rows = [
            {"queue": queue, "seq": e.body.seq, "message_id": e.message_id or ""} for e in envelopes
        ]
        try:
            async with sessions() as session, session.begin():
                # Idempotent by key, as a real consumer is: a redelivery after a lost ack is no-op.
                await session.execute(insert(handled).values(rows).on_conflict_do_nothing())
        except Exception as exc:
            stats.failures += 1
            stats.errors.append(type(exc).__name__)
            raise  # the runner classifies it (connection-level → hold and retry)
        stats.commits += 1

    async def single(envelope: Envelope[RoomReadV1]) -> None:
        await store([envelope])

    return single, store


async def publish_reads(broker: Broker, key: str, room_id: str, seqs: range) -> None:
    for seq in seqs:
        body = RoomReadV1(room_id=room_id, user_id=str(uuid.uuid4()), seq=seq)
        result = await broker.publish(
            EXCHANGE_COMMANDS, OutgoingMessage.of(key, body), mandatory=True
        )
        result.raise_first()


async def queue_depth(broker: Broker, name: str) -> int:
    channel = await broker.connection.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        count = queue.declaration_result.message_count
        return int(count or 0)
    finally:
        await channel.close()


async def test_database_stopped_for_10s_loses_and_dead_letters_nothing(
    rtf_rabbitmq: PrivateRabbitMQ,
    rtf_postgres: PrivatePostgres,
    rtf_wait_for: Callable[..., Awaitable[None]],
    rtf_starter: Callable[..., Awaitable[Any]],
) -> None:
    db_url = rtf_postgres.database_url("rtf_consumer")
    await ensure_database(db_url)
    engine = create_engine(db_url, pool_timeout=2)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)

    broker = Broker(rtf_rabbitmq.url, service="rtf-consumer", reconnect_interval=0.5)
    await broker.connect()
    suffix = uuid.uuid4().hex[:8]
    names = {"single": f"rtf.single.{suffix}", "batch": f"rtf.batch.{suffix}"}
    await declare_exchanges(broker.channel)
    for name in names.values():
        await declare_quorum_queue(
            broker.channel,
            name,
            bindings=[(EXCHANGE_COMMANDS, name)],
            single_active=True,
            delivery_limit=DELIVERY_LIMIT,
        )
    stats = {kind: Stats() for kind in names}
    single, _ = make_handlers(sessions, names["single"], stats["single"])
    _, batch = make_handlers(sessions, names["batch"], stats["batch"])
    await broker.consume(names["single"], {"room.read.v1": single}, prefetch=20)
    await broker.consume(names["batch"], {"*": batch}, batch=True, prefetch=50, max_batch=20)
    room = str(uuid.uuid4())

    async def publish_phase(seqs: range) -> None:
        await asyncio.gather(*(publish_reads(broker, n, room, seqs) for n in names.values()))

    async def rows(queue: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(handled)
        if queue is not None:
            query = query.where(handled.c.queue == queue)
        async with sessions() as session:
            return int((await session.execute(query)).scalar_one())

    try:
        await publish_phase(range(1, BEFORE + 1))

        async def before_done() -> bool:
            return await rows() == 2 * BEFORE

        await rtf_wait_for(before_done, 30, "the commands sent before the outage")

        loop = asyncio.get_running_loop()
        await rtf_starter(rtf_postgres.stop)
        stopped_at = loop.time()
        await publish_phase(range(BEFORE + 1, BEFORE + DURING + 1))

        async def both_failing() -> bool:
            return all(s.failures > 0 for s in stats.values())

        # The outage must really hit both handlers, or this test proves nothing.
        await rtf_wait_for(both_failing, OUTAGE_S, "handlers to meet the stopped database")
        await asyncio.sleep(max(0.0, OUTAGE_S - (loop.time() - stopped_at)))  # the outage itself
        for name in names.values():
            assert await queue_depth(broker, dead_queue(name)) == 0, "dead-lettered in the outage"
        await rtf_starter(rtf_postgres.start)
        await publish_phase(range(BEFORE + DURING + 1, TOTAL + 1))

        async def all_done() -> bool:
            try:
                return await rows() == 2 * TOTAL
            except Exception:
                return False  # the pool may still hold a connection from before the restart

        await rtf_wait_for(all_done, 60, "every command to be committed after the restart")
        for name in names.values():
            async with sessions() as session:
                seqs = (
                    await session.execute(sa.select(handled.c.seq).where(handled.c.queue == name))
                ).scalars()
                assert sorted(seqs) == list(range(1, TOTAL + 1))

        async def drained() -> bool:
            depths = [await queue_depth(broker, n) for n in names.values()]
            return depths == [0, 0]

        await rtf_wait_for(drained, 10, "the command queues to be acked empty")
        for name in names.values():
            assert await queue_depth(broker, dead_queue(name)) == 0
        for kind, s in stats.items():
            assert s.commits >= (TOTAL if kind == "single" else 1)
            assert s.failures > 0
    finally:
        await broker.close()
        await engine.dispose()
