"""RabbitMQ restarts under a mixed load (texts, edits, deletes, reactions): every service
reconnects by itself, gateways re-create their queue and bindings and send `resync` to their
sockets, clients refetch by after_seq and retry the sends refused meanwhile; nothing acked is lost
or doubled, no change applied twice."""

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


async def test_rabbitmq_restart_services_and_clients_recover_with_resync(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient
) -> None:
    fs = fault_stack
    dead_before = fs.dead_letters()
    crowd = await make_crowd(fs, fault_http, clients=12)
    try:
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop, mixed=True))
        await asyncio.sleep(2.0)
        await fs.call(fs.rabbitmq.restart)

        async def resynced() -> None:
            # Sockets that stayed open get `resync`; any that dropped reconnect and get `ready`.
            while not all(
                c.ready and (c.resyncs >= 1 or c.ready_count >= 2) for c in crowd.clients
            ):
                await asyncio.sleep(0.2)

        await asyncio.wait_for(resynced(), 60)
        acked_at_recovery = sum(len(c.acked) for c in crowd.clients)
        await asyncio.sleep(3.0)  # sends flow again after the restart
        stop.set()
        sent = await load
        # A reaction to a text its sender deleted meanwhile is refused (not_found), not retried.
        verdict = await settle_and_verify(
            fs, crowd, ack_timeout_s=90, refusals=frozenset({"not_found"})
        )
        assert verdict.acked + verdict.rejected == sent
        assert {"text", "edit", "delete", "reaction"} <= set(verdict.kinds), verdict.kinds
        assert verdict.acked > acked_at_recovery
        assert sum(c.resyncs for c in crowd.clients) >= 1, "no gateway sent resync"
        await fs.call(fs.stack.wait_ready, None, 60)  # every /readyz is 200 again
        assert fs.stack.dead() == {}, "a service died instead of reconnecting"
        assert_no_dead_letters(fs, dead_before)
    finally:
        await close_crowd(crowd)
