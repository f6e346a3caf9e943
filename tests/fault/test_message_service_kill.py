"""kill -9 a message-service replica mid-batch under load.

"Mid-batch" is made certain, not left to timing: a trigger (installed by this test in the private
database) sleeps inside the insert of one marked message, so the replica handling that batch holds
an open transaction; the test finds which process owns that database connection and SIGKILLs
exactly that one. The other replica takes the victim's shards over once their leases expire
(ADR 0008), the unacked deliveries are redelivered to it (the marked one first of its shard),
and after the killed replica is restarted every acknowledged message is persisted exactly once,
the marked one included.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg
import httpx
import pytest
from faultkit import (
    FaultStack,
    assert_no_dead_letters,
    close_crowd,
    make_crowd,
    replica_in_slow_insert,
    run_load,
    settle_and_verify,
)

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]
log = logging.getLogger("fault")


async def test_kill_9_message_service_mid_batch_persists_everything_once(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient, slow_db: asyncpg.Connection
) -> None:
    fs = fault_stack
    dead_before = fs.dead_letters()
    crowd = await make_crowd(fs, fault_http, clients=12)
    try:
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop, interval_s=0.2))
        await asyncio.sleep(1.5)
        sender = crowd.clients[3]
        room = crowd.member_rooms(sender)[0]
        marked = await sender.send(room, f"SLOW {uuid.uuid4()}")
        victim = await asyncio.wait_for(replica_in_slow_insert(fs, slow_db), 20)
        acked_before_kill = sum(len(c.acked) for c in crowd.clients)
        in_flight_at_kill = sum(len(c.outbox) for c in crowd.clients)
        log.info("killing %s inside its open batch transaction", victim)
        fs.stack.kill(victim)  # its transaction is open: the batch is neither committed nor acked
        assert victim not in fs.stack.pids()

        async def taken_over() -> None:
            # The survivor takes the victim's shards when their leases expire (a lease period
            # and a round or two) and redoes the interrupted batch: the marked message is acked.
            while marked not in sender.acked:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(taken_over(), 30)  # the other replica carries the load alone
        acked_while_down = sum(len(c.acked) for c in crowd.clients)
        await fs.call(fs.stack.restart, victim)  # back, ready
        await asyncio.sleep(1.5)
        stop.set()
        sent = await load
        verdict = await settle_and_verify(fs, crowd)
        assert in_flight_at_kill > 0
        assert acked_while_down > acked_before_kill, "the surviving replica took no shard over"
        assert marked in sender.acked  # the interrupted batch was redone, once
        assert verdict.acked == sent + 1
        assert_no_dead_letters(fs, dead_before)
    finally:
        await close_crowd(crowd)
