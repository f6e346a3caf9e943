"""Outbox relay throughput: how many events/s `OutboxRelay.drain_once` moves from PostgreSQL to
RabbitMQ (with confirms). Uses a temporary database and vhost; prints one JSON line.

    .venv/bin/python bench/relay_throughput.py --events 5000 --batch-size 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid

import sqlalchemy as sa
from chat_contracts.names import EXCHANGE_EVENTS
from chat_contracts.types import RoomJoinedV1
from chat_runtime.db import create_engine, session_factory
from chat_runtime.messaging import Broker
from chat_runtime.messaging.outbox import OutboxEvent, OutboxRelay, add_events, outbox_table
from chat_runtime.messaging.topology import declare_exclusive_queue
from chat_runtime.testing import temporary_database, temporary_vhost
from chat_runtime.tracing import configure_tracing
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider


class SequentialRelay(OutboxRelay):
    """The relay as it was first written: await each confirm before the next publish (baseline)."""

    async def drain_once(self, *, older_than_s: float | None = None) -> int:
        t = self.table
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    sa.select(t)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                failure = (await self._publish([row._mapping]))[0]
                if failure is not None:
                    raise failure
                await session.execute(
                    sa.update(t).where(t.c.id == row.id).values(published_at=sa.func.now())
                )
        return len(rows)


async def main(
    events: int, batch_size: int, sequential: bool, record_spans: bool = False
) -> dict[str, float | int | str]:
    if record_spans:
        # What `configure_tracing(..., "none")` did before it stopped sampling (the baseline).
        trace.set_tracer_provider(TracerProvider())
    configure_tracing("bench-relay", "0.0.0", "none")  # as every service does at start
    metadata = sa.MetaData()
    outbox = outbox_table(metadata)
    async with temporary_database("bench_relay") as db_url, temporary_vhost("bench_relay") as amqp:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = session_factory(engine)
        broker = Broker(amqp, service="bench-relay")
        await broker.connect()
        await broker.channel.declare_exchange(EXCHANGE_EVENTS, "topic", durable=True)
        # A bound queue, so the broker routes (and confirms) like in production.
        await declare_exclusive_queue(
            broker.channel, "bench.sink", bindings=[(EXCHANGE_EVENTS, "user.#")]
        )
        user = str(uuid.uuid4())
        async with sessions() as session, session.begin():
            await add_events(
                session,
                outbox,
                [
                    OutboxEvent(
                        f"user.{user}.room.joined.v1",
                        RoomJoinedV1(user_id=user, room_id=str(uuid.uuid4())),
                    )
                    for _ in range(events)
                ],
            )
        relay_class = SequentialRelay if sequential else OutboxRelay
        relay = relay_class(sessions, outbox, broker, batch_size=batch_size)
        cpu0, t0 = time.process_time(), time.perf_counter()
        total = 0
        while count := await relay.drain_once():
            total += count
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        await broker.close()
        await engine.dispose()
    return {
        "relay": "sequential" if sequential else "batched",
        "spans": "recorded" if record_spans else "sampled out",
        "events": total,
        "batch_size": batch_size,
        "seconds": round(wall, 3),
        "events_per_s": round(total / wall, 1),
        "client_cpu_s": round(cpu, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--sequential", action="store_true", help="the one-at-a-time baseline")
    parser.add_argument("--record-spans", action="store_true", help="tracing as before (baseline)")
    args = parser.parse_args()
    result = asyncio.run(main(args.events, args.batch_size, args.sequential, args.record_spans))
    sys.stdout.write(json.dumps(result) + "\n")
