"""Send-shard leases against real PostgreSQL and RabbitMQ (ADR 0008): the fence's row locks and
idle timeout, replicas splitting the shards, and a send under a lost lease given back, not
committed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from chat_contracts import names, types
from chat_runtime.db import create_engine, run_migrations_async, session_factory
from chat_runtime.messaging import OutgoingMessage, shard_of
from chat_runtime.testing import temporary_database, temporary_vhost
from message_service.leases import Fence, LeaseLost, SendShardLeases, read_consumer
from message_service.settings import MessageSettings
from message_service.store import shard_leases, tables
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SHARDS = 2  # conftest's make_settings


@asynccontextmanager
async def lease_db() -> AsyncIterator[AsyncEngine]:
    async with temporary_database("msg_lease") as url:
        await run_migrations_async(MessageSettings().alembic_ini, url)
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await shard_leases.ensure_shards(conn, 2)
            yield engine
        finally:
            await engine.dispose()


async def expire(engine: AsyncEngine, owner: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE send_shard_leases SET expires_at = now() - interval '1 second' "
                "WHERE owner = :owner"
            ),
            {"owner": owner},
        )


async def acquire(engine: AsyncEngine, owner: str) -> dict[int, int]:
    async with engine.begin() as conn:
        return await shard_leases.acquire(conn, owner, 2, 2, 5.0)


async def test_the_fence_keeps_a_takeover_off_until_commit_then_fails_the_old_owner() -> None:
    async with lease_db() as engine:
        assert await acquire(engine, "a") == {0: 1, 1: 1}
        await expire(engine, "a")  # a was paused: both leases expired, nobody took them yet
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            await Fence("a", {0: 1}, idle_s=5.0).check(session)  # still a's: epoch unchanged
            # While a's batch is open, its locked row is skipped; the other one is taken.
            assert await acquire(engine, "b") == {1: 2}
        assert await acquire(engine, "b") == {0: 2}  # a committed: now shard 0 moves too
        async with sessions() as session, session.begin():
            with pytest.raises(LeaseLost) as lost:
                await Fence("a", {0: 1, 1: 1}, idle_s=5.0).check(session)
        assert lost.value.shards == {0, 1}
        async with engine.begin() as conn:  # renewal tells a the same
            assert await shard_leases.renew(conn, "a", {0, 1}, 5.0) == {}
            assert await shard_leases.renew(conn, "b", {0, 1}, 5.0) == {0: 2, 1: 2}


async def test_a_batch_transaction_left_idle_past_the_lease_is_ended_by_postgresql() -> None:
    async with lease_db() as engine:
        await acquire(engine, "a")
        await expire(engine, "a")
        sessions = session_factory(engine)
        session = sessions()
        try:
            await session.begin()
            await Fence("a", {0: 1}, idle_s=0.5).check(session)
            # a is paused mid-transaction: its row stays locked until PostgreSQL ends it.
            deadline = time.monotonic() + 10
            taken: dict[int, int] = {}
            while 0 not in taken:
                assert time.monotonic() < deadline, "the idle transaction was never ended"
                taken.update(await acquire(engine, "b"))
                await asyncio.sleep(0.1)
            with pytest.raises(sa.exc.DBAPIError):
                await session.commit()  # a resumes: its transaction is gone, nothing commits
        finally:
            await session.close()


def leases_of(stack: Any) -> SendShardLeases:
    leases: SendShardLeases = stack.host.state.send_leases
    return leases


async def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def consumed(stack: Any) -> list[str]:
    handle = stack.host.consumer("send")
    return sorted(handle.queues) if handle is not None else []


def reads_consumed(stack: Any) -> list[str]:
    handles = [stack.host.consumer(read_consumer(shard)) for shard in range(SHARDS)]
    return sorted(q for h in handles if h is not None for q in h.queues)


def read_queues(leases: SendShardLeases) -> list[str]:
    return [q for shard in range(SHARDS) for q in leases.read_queues(shard)]


async def publish_send(s: Any, room: str, sender: uuid.UUID, text: str) -> str:
    cmid = str(uuid.uuid4())
    command = types.MessageSendV1(
        client_msg_id=cmid,
        room_id=room,
        sender_id=str(sender),
        session_id=str(uuid.uuid4()),
        text=text,
        gateway_id=str(uuid.uuid4()),
        connection_id=str(uuid.uuid4()),
    )
    message = OutgoingMessage.of(names.send_routing_key(shard_of(room, SHARDS)), command)
    result = await s.broker.publish(names.EXCHANGE_COMMANDS, message, mandatory=True)
    result.raise_first()
    return cmid


async def stored(s: Any, room: str) -> list[tuple[str, int]]:
    async with s.host.require_sessions()() as session:
        rows = await session.execute(
            sa.select(tables.messages.c.client_msg_id, tables.messages.c.seq)
            .where(tables.messages.c.room_id == uuid.UUID(room))
            .order_by(tables.messages.c.seq)
        )
        return [(str(r.client_msg_id), int(r.seq)) for r in rows]


async def test_replicas_split_the_shards_and_readyz_says_which(ms_stack_factory: Any) -> None:
    async with (
        temporary_database("msg_lease") as db,
        temporary_vhost("msg-lease") as amqp,
        ms_stack_factory(db, amqp) as first,
    ):
        await wait_until(lambda: len(leases_of(first).held_queues()) == SHARDS)
        async with ms_stack_factory(db, amqp) as second:
            a, b = leases_of(first), leases_of(second)
            await wait_until(lambda: len(a.held_queues()) == len(b.held_queues()) == 1)
            await wait_until(lambda: consumed(first) == a.held_queues())
            await wait_until(lambda: consumed(second) == b.held_queues())
            # The shards' read queues follow their leases too.
            await wait_until(lambda: reads_consumed(first) == read_queues(a))
            await wait_until(lambda: reads_consumed(second) == read_queues(b))
            assert set(a.held_queues()).isdisjoint(b.held_queues())
            r = await second.client.get("/readyz")
            assert r.status_code == 200
            body = r.json()
            assert body["checks"]["send_leases"] is True
            assert body["details"]["send_leases"]["shards"] == b.describe()["shards"]
            assert body["details"]["send_leases"]["replicas"] == 2
        # A clean stop released the second's lease: the first takes it at its next round.
        started = time.monotonic()
        await wait_until(lambda: len(leases_of(first).held_queues()) == SHARDS, timeout=5)
        assert time.monotonic() - started < 3.0


async def test_a_send_under_a_lost_lease_is_given_back_and_committed_by_the_next_holder(
    monkeypatch: pytest.MonkeyPatch, ms_stack_factory: Any
) -> None:
    fenced: list[set[int]] = []
    real_check = Fence.check

    async def spying(self: Fence, session: Any) -> None:
        try:
            await real_check(self, session)
        except LeaseLost as exc:
            fenced.append(set(exc.shards))
            raise

    monkeypatch.setattr(Fence, "check", spying)
    # Rounds 2 s apart: the batch meets the fence before the keeper's renewal notices.
    monkeypatch.setenv("CHAT_SEND_LEASE_RENEW_S", "2.0")
    async with (
        temporary_database("msg_lease") as db,
        temporary_vhost("msg-lease") as amqp,
        ms_stack_factory(db, amqp) as s,
    ):
        leases = leases_of(s)
        await wait_until(lambda: consumed(s) == leases.held_queues() and len(consumed(s)) == 2)
        alice = await s.register_user()
        room: str = await s.room(alice)
        shard = shard_of(room, SHARDS)
        round_done = leases._last_ok
        await wait_until(lambda: leases._last_ok != round_done)
        engine = s.host.engine
        assert engine is not None
        async with engine.begin() as conn:  # what a takeover after a pause does
            await conn.execute(
                sa.text(
                    "UPDATE send_shard_leases SET owner = 'thief', epoch = epoch + 1, "
                    "expires_at = now() + interval '1 hour' WHERE shard = :shard"
                ),
                {"shard": shard},
            )
        cmid = await publish_send(s, room, alice, "under a stolen lease")
        await wait_until(lambda: fenced == [{shard}], timeout=5)
        await wait_until(lambda: len(consumed(s)) == 1)  # the queue was given back
        assert not leases.holds(shard)
        assert await stored(s, room) == []  # nothing committed
        async with engine.begin() as conn:  # the thief lets go: the keeper takes it again
            await conn.execute(
                sa.text(
                    "UPDATE send_shard_leases SET owner = NULL, expires_at = '-infinity' "
                    "WHERE shard = :shard"
                ),
                {"shard": shard},
            )
        created = f"room.{room}.message.created.v1"
        await s.spy.wait_for(lambda spy: len(spy.of(created)) == 1, timeout=15)
        assert await stored(s, room) == [(cmid, 1)]
        assert leases.holds(shard)
