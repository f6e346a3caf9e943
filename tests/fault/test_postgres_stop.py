"""PostgreSQL stopped for 10 s under a mixed load (texts, edits, deletes, reactions):
message-service holds its command deliveries and retries (no requeue into the delivery limit),
nothing is dead-lettered, and once the database is back every acked entry is persisted exactly
once, its effect applied once, and service resumes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from faultkit import (
    FaultStack,
    assert_no_dead_letters,
    close_crowd,
    make_crowd,
    run_load,
    settle_and_verify,
)

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]

OUTAGE_S = 10.0


async def test_postgres_stopped_10s_nothing_lost_nothing_dead_lettered(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient
) -> None:
    fs = fault_stack
    dead_before = fs.dead_letters()
    crowd = await make_crowd(fs, fault_http, clients=12)
    try:
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop, mixed=True))
        await asyncio.sleep(2.0)
        loop = asyncio.get_running_loop()
        await fs.call(fs.postgres.stop)
        stopped_at = loop.time()
        acked_at_stop = sum(len(c.acked) for c in crowd.clients)
        await asyncio.sleep(max(0.0, OUTAGE_S - (loop.time() - stopped_at)))
        # Sends went out during the outage; none of them could be committed.
        assert sum(len(c.outbox) for c in crowd.clients) > 0
        assert_no_dead_letters(fs, dead_before)
        await fs.call(fs.postgres.start)
        await asyncio.sleep(3.0)  # load continues after the restart
        stop.set()
        sent = await load
        # A reaction to a text its sender deleted meanwhile is refused (not_found), not retried.
        verdict = await settle_and_verify(
            fs, crowd, ack_timeout_s=90, refusals=frozenset({"not_found"})
        )
        assert verdict.acked + verdict.rejected == sent
        assert {"text", "edit", "delete", "reaction"} <= set(verdict.kinds), verdict.kinds
        assert verdict.acked > acked_at_stop
        await fs.call(fs.stack.wait_ready, None, 60)  # service resumed everywhere
        assert fs.stack.dead() == {}
        assert_no_dead_letters(fs, dead_before)
    finally:
        await close_crowd(crowd)
