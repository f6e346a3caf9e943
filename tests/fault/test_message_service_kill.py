"""kill -9 a message-service replica mid-batch of mixed entries, under a mixed load.

"Mid-batch" is made certain, not left to timing: a trigger (installed by this test in the private
database) sleeps inside the insert of one marked entry, so the replica handling that batch holds
an open transaction; the test finds which process owns that database connection and SIGKILLs
exactly that one. The other replica takes the victim's shards over once their leases expire
(ADR 0008), the unacked deliveries are redelivered to it (the marked one first of its shard),
and after the killed replica is restarted every acknowledged entry is persisted exactly once and
its effect on its target applied exactly once (faultkit.settle_and_verify replays them).

The killed batch is mixed (api-v1.1 A): a first marked text holds the room's shard for SLOW_S
while one client queues a text, a reaction, a delete and, last, a marked edit behind it; they
are taken into the next batch together, which is killed while it sleeps in the edit's insert.
The trigger records which kinds that open transaction had written (faultkit.batch_kinds).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg
import httpx
import pytest
from chatclient import ChatClient
from faultkit import (
    EMOJI,
    FaultStack,
    assert_no_dead_letters,
    batch_kinds,
    close_crowd,
    make_crowd,
    replica_in_slow_insert,
    run_load,
    settle_and_verify,
)

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]
log = logging.getLogger("fault")
FIRE = "🔥"
assert FIRE not in EMOJI


async def acked(client: ChatClient, *client_msg_ids: str) -> list[dict[str, object]]:
    while not all(c in client.acked for c in client_msg_ids):
        await asyncio.sleep(0.05)
    return [client.acked[c] for c in client_msg_ids]


async def test_kill_9_message_service_mid_batch_persists_everything_once(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient, slow_db: asyncpg.Connection
) -> None:
    fs = fault_stack
    dead_before = fs.dead_letters()
    crowd = await make_crowd(fs, fault_http, clients=12)
    try:
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop, interval_s=0.2, mixed=True))
        sender = crowd.clients[3]
        room = crowd.member_rooms(sender)[0]
        # Targets of its own, which the load never edits or deletes.
        first, second = await asyncio.wait_for(
            acked(sender, await sender.send(room, "to edit"), await sender.send(room, "to go")), 20
        )
        await asyncio.sleep(1.0)
        blocker = await sender.send(room, f"SLOW blocker {uuid.uuid4()}")
        await asyncio.wait_for(replica_in_slow_insert(fs, slow_db), 20)
        burst = [
            await sender.send(room, "in the killed batch"),
            # An emoji the load never uses: certainly an entry, not a no-op.
            await sender.send(room, kind="reaction", target_id=str(first["id"]), emoji=FIRE),
            await sender.send(room, kind="delete", target_id=str(second["id"])),
        ]
        marked = await sender.send(
            room, f"SLOW {uuid.uuid4()}", kind="edit", target_id=str(first["id"])
        )
        await asyncio.wait_for(acked(sender, blocker), 20)  # its batch committed
        victim = await asyncio.wait_for(replica_in_slow_insert(fs, slow_db), 20)
        acked_before_kill = sum(len(c.acked) for c in crowd.clients)
        in_flight_at_kill = sum(len(c.outbox) for c in crowd.clients)
        log.info("killing %s inside its open batch transaction", victim)
        fs.stack.kill(victim)  # its transaction is open: the batch is neither committed nor acked
        assert victim not in fs.stack.pids()
        killed_kinds = await batch_kinds(slow_db)
        # (The load's entries of the shard may be in it too.)
        assert {"text", "reaction", "delete"} <= killed_kinds, killed_kinds

        # The survivor takes the victim's shards when their leases expire (a lease period and a
        # round or two) and redoes the interrupted batch: the marked edit is acked.
        await asyncio.wait_for(acked(sender, marked, *burst), 30)
        acked_while_down = sum(len(c.acked) for c in crowd.clients)
        await fs.call(fs.stack.restart, victim)  # back, ready
        await asyncio.sleep(1.5)
        stop.set()
        sent = await load
        # A reaction to a text its sender deleted meanwhile is refused (not_found), not retried.
        verdict = await settle_and_verify(fs, crowd, refusals=frozenset({"not_found"}))
        assert in_flight_at_kill > 0
        assert acked_while_down > acked_before_kill, "the surviving replica took no shard over"
        own = 2 + 1 + len(burst) + 1  # targets, blocker, burst, marked edit
        assert verdict.acked + verdict.rejected == sent + own
        assert {"text", "edit", "delete", "reaction"} <= set(verdict.kinds), verdict.kinds
        assert_no_dead_letters(fs, dead_before)
    finally:
        await close_crowd(crowd)
