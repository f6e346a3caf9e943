"""SIGTERM (what `docker stop`, Kubernetes and supervisord send) to a real service under load
(product, Operability: "graceful shutdown that finishes in-flight work and acks nothing
unfinished"; QA-002: nothing acknowledged is lost).

- message-service: a replica is stopped while it holds a batch in an open transaction (made
  certain, as in test_message_service_kill.py, by a trigger that sleeps inside the insert of one
  marked message). It finishes that batch (the row is committed before the process is gone),
  exits cleanly within its graceful window, and the other replica carries the load; every acked
  send is in the database once, nothing is dead-lettered.
- gateway: a gateway is stopped under load; its clients move to the other one and retry their
  unacked sends with the same client_msg_id; nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid

import asyncpg
import httpx
import pytest
from chat_devtools.processes import ManagedProcess
from faultkit import (
    Crowd,
    FaultStack,
    close_crowd,
    make_crowd,
    replica_in_slow_insert,
    run_load,
    settle_and_verify,
)

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]
log = logging.getLogger("fault")

# chat_runtime.host.process.GRACEFUL_SHUTDOWN_S (message-service); the gateway's is 10 s.
MESSAGE_GRACE_S = 20.0
GATEWAY_GRACE_S = 10.0
EXIT_SLACK_S = 5.0


async def acked_total_reaches(crowd: Crowd, total: int, timeout_s: float = 20.0) -> None:
    """Wait until the crowd holds `total` acks (the load is flowing)."""

    async def reached() -> None:
        while sum(len(c.acked) for c in crowd.clients) < total:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(reached(), timeout_s)


def acked_total(crowd: Crowd) -> int:
    return sum(len(c.acked) for c in crowd.clients)


def command_dead_letters(fs: FaultStack) -> dict[str, int]:
    """Dead letters of the command queues (sends and reads). Request/reply queries are left
    out: on this loaded machine a restarting replica's revocations query may expire and be
    retried, which loses nothing."""
    return {n: c for n, c in fs.dead_letters().items() if n.startswith("message-service.")}


def assert_no_command_dead_letters(fs: FaultStack, baseline: dict[str, int]) -> None:
    grown = {n: c for n, c in command_dead_letters(fs).items() if c > baseline.get(n, 0)}
    assert grown == {}, f"commands dead-lettered during the test: {grown}"


def stopped_lines(proc: ManagedProcess) -> int:
    """How many clean stops the process's log records (chat_runtime.host's `service_stopped`:
    its lifespan ran to the end, consumers stopped and the broker link closed)."""
    return proc.log_path.read_text(errors="replace").count('"event": "service_stopped"')


async def sigterm_and_wait(fs: FaultStack, name: str, grace_s: float) -> float:
    """SIGTERM the process (its leader only, as an orchestrator does) and wait for it to exit
    within its graceful window, having shut down cleanly; returns how long it took."""
    proc: ManagedProcess = fs.stack.processes[name]
    assert proc.popen is not None
    assert proc.running
    clean_before = stopped_lines(proc)
    started = time.monotonic()
    proc.popen.send_signal(signal.SIGTERM)
    exited = await fs.call(proc.wait, grace_s + EXIT_SLACK_S)
    took = time.monotonic() - started
    assert exited, f"{name} still running {took:.1f}s after SIGTERM:\n{proc.log_tail()}"
    # uvicorn re-raises the signal once its graceful shutdown is done: -SIGTERM, or 0.
    assert proc.returncode in (0, -signal.SIGTERM), f"{name} exited with {proc.returncode}"
    assert stopped_lines(proc) == clean_before + 1, (
        f"{name} did not stop cleanly:\n{proc.log_tail()}"
    )
    return took


async def test_sigterm_message_service_mid_batch_finishes_it_and_loses_nothing(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient, slow_db: asyncpg.Connection
) -> None:
    fs = fault_stack
    dead_before = command_dead_letters(fs)
    crowd = await make_crowd(fs, fault_http, clients=12)
    try:
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop, interval_s=0.2))
        await acked_total_reaches(crowd, 24)
        sender = crowd.clients[3]
        room = crowd.member_rooms(sender)[0]
        marked_text = f"SLOW {uuid.uuid4()}"
        marked = await sender.send(room, marked_text)
        victim = await asyncio.wait_for(replica_in_slow_insert(fs, slow_db), 20)

        log.info("SIGTERM to %s inside its open batch transaction", victim)
        took = await sigterm_and_wait(fs, victim, MESSAGE_GRACE_S)
        # The batch it held was finished, not dropped: the marked row is committed by the time
        # the process is gone (a redo by the other replica would start only after it left, and
        # sleeps SLOW_S in the same trigger).
        committed = await slow_db.fetchval(
            "SELECT count(*) FROM messages WHERE text = $1", marked_text
        )
        assert committed == 1, f"{victim} exited without finishing its batch (took {took:.1f}s)"

        # The other replica carries the load alone.
        await acked_total_reaches(crowd, acked_total(crowd) + 24)
        await fs.call(fs.stack.restart, victim)
        stop.set()
        sent = await load
        verdict = await settle_and_verify(fs, crowd)
        assert marked in sender.acked
        assert verdict.acked == sent + 1
        assert_no_command_dead_letters(fs, dead_before)
    finally:
        await close_crowd(crowd)


async def test_sigterm_gateway_under_load_clients_move_and_lose_nothing(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient
) -> None:
    fs = fault_stack
    victim, survivor = fs.gateway_names[:2]
    dead_before = command_dead_letters(fs)
    crowd = await make_crowd(fs, fault_http, clients=12)
    try:
        on_victim = [c for c in crowd.clients if c.connected_url == fs.ws_url(victim)]
        assert len(on_victim) == 6
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop, interval_s=0.2))
        await acked_total_reaches(crowd, 24)
        unacked_at_stop = sum(len(c.outbox) for c in on_victim)

        await sigterm_and_wait(fs, victim, GATEWAY_GRACE_S)

        async def moved() -> None:
            while not all(c.ready and c.connected_url == fs.ws_url(survivor) for c in on_victim):
                await asyncio.sleep(0.1)

        await asyncio.wait_for(moved(), 20)
        await acked_total_reaches(crowd, acked_total(crowd) + 24)
        await fs.call(fs.stack.restart, victim)
        stop.set()
        sent = await load
        verdict = await settle_and_verify(fs, crowd)
        log.info("unacked on %s when it was stopped: %d", victim, unacked_at_stop)
        assert verdict.acked == sent  # every send acked once, none refused or lost
        assert all(c.disconnects >= 1 for c in on_victim)
        assert_no_command_dead_letters(fs, dead_before)
    finally:
        await close_crowd(crowd)
