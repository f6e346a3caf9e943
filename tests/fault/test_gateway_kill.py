"""kill -9 one of two gateways under load: its clients reconnect to the other gateway, retry their
unacked sends with the same client_msg_id, catch up by after_seq, and nothing acked is lost or
doubled."""

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

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]


async def test_kill_9_gateway_clients_move_to_the_other_and_lose_nothing(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient
) -> None:
    fs = fault_stack
    victim, survivor = fs.gateway_names[:2]
    dead_before = fs.dead_letters()
    crowd = await make_crowd(fs, fault_http, clients=12)
    try:
        on_victim = [c for c in crowd.clients if c.connected_url == fs.ws_url(victim)]
        assert len(on_victim) == 6
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop))
        await asyncio.sleep(2.0)  # load running on both gateways
        fs.stack.kill(victim)
        assert victim not in fs.stack.pids()

        async def moved() -> None:
            while not all(c.ready and c.connected_url == fs.ws_url(survivor) for c in on_victim):
                await asyncio.sleep(0.1)

        await asyncio.wait_for(moved(), 20)
        await asyncio.sleep(2.0)  # load continues on the survivor
        stop.set()
        sent = await load
        verdict = await settle_and_verify(fs, crowd)
        assert verdict.acked == sent  # every send was eventually acked, none refused
        assert all(c.disconnects >= 1 for c in on_victim)
        assert all(c.ready_count >= 2 for c in on_victim)
        assert_no_dead_letters(fs, dead_before)
    finally:
        await close_crowd(crowd)
