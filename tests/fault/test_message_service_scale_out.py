"""Three message-service replicas share the send shards through leases (ADR 0008).

A stack of its own on ports 28300-28399 (a private RabbitMQ and PostgreSQL, auth, one gateway,
three message-service replicas with the default lease settings: 5 s leases renewed every second):

- each replica holds and consumes about a third of the eight shards (2-3), one consumer a queue;
- `kill -9` one replica under load: its shards are held and consumed by the other two within
  10 s; after it is restarted it takes its share back; every acknowledged message is stored
  exactly once, every room's seq is gapless, each sender's messages are in the order it sent
  them, every member's view is the database;
- `SIGSTOP` the replica whose batch transaction is open (a test trigger sleeps inside the insert
  of one marked message) until the other two hold all its shards, then `SIGCONT`: the paused
  replica commits nothing under its old leases (a trigger records, for every stored message,
  the writer's PostgreSQL application_name and the lease row of its shard at that moment: the
  writer is always the lease's owner, and no write of the resumed replica carries one of its
  old epochs), the marked message is stored once, by a lease acquired after the pause, and the
  replica rejoins with its share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from chat_devtools.config import StackConfig, default_services, find_repo_root
from chat_devtools.private import PrivatePostgres, PrivateRabbitMQ
from chat_devtools.stack import Stack
from chatclient import ChatApi, ChatClient, User
from faultkit import (
    Crowd,
    FaultStack,
    assert_no_dead_letters,
    close_crowd,
    free_ports_in_range,
    settle_and_verify,
)

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]
log = logging.getLogger("fault")

PORT_RANGE = (28300, 28399)
SHARDS = 8
REPLICAS = 3
MOVE_WITHIN_S = 10.0
APP_PREFIX = "message-service "  # message-service's PostgreSQL application_name: + lease owner


def shard_of(room_id: str) -> int:
    """docs/architecture.md: CRC-32 of the room id's 16 bytes modulo the shard count."""
    return zlib.crc32(uuid.UUID(room_id).bytes) % SHARDS


@pytest.fixture(scope="module")
def scale_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    base = tmp_path_factory.mktemp("scale-out")
    rabbitmq = PrivateRabbitMQ()
    postgres = PrivatePostgres()
    stack: Stack | None = None
    handle: FaultStack | None = None
    try:
        rabbitmq.start()
        postgres.start()
        auth, gateway, *messages = free_ports_in_range(2 + REPLICAS, PORT_RANGE)
        services = default_services(auth=(auth,), gateway=(gateway,), message=tuple(messages))
        config = StackConfig(
            root=find_repo_root(Path(__file__).parent),
            services=tuple(s for s in services if s.name not in ("presence", "file")),
            amqp_url=rabbitmq.url,
            postgres_url=postgres.url,
            edge_port=None,
            log_dir=base / "log",
            run_dir=base / "run",
            env={
                "CHAT_SEND_SHARDS": str(SHARDS),
                "CHAT_AUTH_REGISTER_ADDRESS_LIMIT": "10000",
                "CHAT_AUTH_LOGIN_ADDRESS_LIMIT": "10000",
                "CHAT_LOG_LEVEL": "INFO",
            },
            ready_timeout_s=120,
            stop_timeout_s=10,
        )
        log.info("scale-out stack logs: %s", config.logs)
        stack = Stack(config)
        stack.prepare()
        stack.start()
        handle = FaultStack(stack, rabbitmq, postgres)
        yield handle
    finally:
        if stack is not None:
            stack.stop()
        rabbitmq.close()
        postgres.close()
        if handle is not None:
            handle.starter.shutdown(wait=True)


@pytest.fixture
def scale(scale_stack: FaultStack) -> Iterator[FaultStack]:
    scale_stack.heal()
    yield scale_stack
    for pid in scale_stack.stack.pids().values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a test that failed while a replica was paused
    scale_stack.heal()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        yield client


# --- who holds what -----------------------------------------------------------------------


async def leases_of(fs: FaultStack, http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Replica name -> its /readyz `details.send_leases` (owner, shards, epochs); replicas that
    do not answer (killed, paused, starting) are left out."""
    out: dict[str, dict[str, Any]] = {}
    for name in fs.message_names:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            r = await http.get(f"{fs.stack.url(name)}/readyz", timeout=1.0)
            if r.status_code == 200:
                out[name] = r.json()["details"]["send_leases"]
    return out


async def lease_table(fs: FaultStack) -> dict[int, tuple[str | None, int]]:
    conn = await asyncpg.connect(fs.messages_dsn)
    try:
        rows = await conn.fetch("SELECT shard, owner, epoch FROM send_shard_leases ORDER BY shard")
    finally:
        await conn.close()
    return {r["shard"]: (r["owner"], r["epoch"]) for r in rows}


async def until(what: str, check: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Wait for `check()` to hold (polled, 0.1 s); returns the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def until_balanced(fs: FaultStack, http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Every replica answers and holds 2 or 3 shards, each shard held by one of them."""
    found: dict[str, dict[str, Any]] = {}

    async def balanced() -> bool:
        nonlocal found
        found = await leases_of(fs, http)
        held = [s for details in found.values() for s in details["shards"]]
        return (
            len(found) == REPLICAS
            and sorted(held) == list(range(SHARDS))
            and all(len(d["shards"]) in (2, 3) for d in found.values())
        )

    await until("three replicas each holding 2-3 shards", balanced, 60)
    return found


def consumers_per_send_queue(fs: FaultStack) -> dict[str, int]:
    out = fs.rabbitmq.ctl("list_queues", "-q", "--no-table-headers", "name", "consumers")
    counts: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and ".send." in parts[0] and not parts[0].endswith(".dead"):
            counts[parts[0]] = int(parts[1])
    return counts


async def until_one_consumer_per_send_queue(fs: FaultStack) -> None:
    """The broker's view: every send queue has exactly one consumer (its lease holder's)."""
    counts: dict[str, int] = {}

    async def one_each() -> bool:
        nonlocal counts
        counts = await asyncio.to_thread(consumers_per_send_queue, fs)
        return len(counts) == SHARDS and set(counts.values()) == {1}

    try:
        await until("one consumer on every send queue", one_each, 15)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {counts}") from None


# --- a crowd whose rooms cover every shard ------------------------------------------------


async def sharded_crowd(fs: FaultStack, http: httpx.AsyncClient) -> Crowd:
    """Eight users and a room on every shard; user i is in the rooms of shards i, i+1, i+2 (the
    first user, who made them, in all of them); all on the one gateway."""
    api = ChatApi(fs.auth_url, fs.message_urls, http)
    users: list[User] = list(await asyncio.gather(*(api.register("scale") for _ in range(8))))
    owner = users[0]
    by_shard: dict[int, str] = {}
    while len(by_shard) < SHARDS:
        room = await api.create_room(owner, f"scale-{uuid.uuid4().hex[:8]}")
        by_shard.setdefault(shard_of(room), room)
    rooms_of = {
        i: sorted({by_shard[(i + k) % SHARDS] for k in range(3)})
        if i
        else sorted(by_shard.values())
        for i in range(len(users))
    }
    await asyncio.gather(
        *(api.join_room(users[i], room) for i in range(1, len(users)) for room in rooms_of[i])
    )
    url = fs.ws_url(fs.gateway_names[0])
    clients = [
        ChatClient(api, user, [url], rooms_of[i], name=f"s{i}") for i, user in enumerate(users)
    ]
    await asyncio.gather(*(c.start() for c in clients))
    rooms = {
        room: [c for i, c in enumerate(clients) if room in rooms_of[i]]
        for room in by_shard.values()
    }
    return Crowd(api, clients, rooms)


Sent = list[tuple[ChatClient, str, str]]  # (client, room, client_msg_id) in send order


async def run_load(crowd: Crowd, stop: asyncio.Event, sent: Sent, interval_s: float = 0.3) -> None:
    async def one(client: ChatClient) -> None:
        rooms = crowd.member_rooms(client)
        n = 0
        while not stop.is_set():
            n += 1
            room = random.choice(rooms)
            sent.append((client, room, await client.send(room, f"{client.name} #{n}")))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s * random.uniform(0.5, 1.5))

    await asyncio.gather(*(one(c) for c in crowd.clients))


def acked(crowd: Crowd) -> int:
    return sum(len(c.acked) for c in crowd.clients)


def assert_each_sender_in_order(sent: Sent) -> None:
    """A sender's messages in one room have seqs in the order it sent them."""
    seqs: dict[tuple[str, str], list[int]] = {}
    for client, room, cmid in sent:
        seqs.setdefault((client.name, room), []).append(int(client.acked[cmid]["seq"]))
    for (name, room), order in seqs.items():
        assert order == sorted(order), f"{name}'s messages in {room} out of order: {order}"


# --- kill -9 ------------------------------------------------------------------------------


async def test_kill_9_one_of_three_replicas_its_shards_move_within_10_s(
    scale: FaultStack, http: httpx.AsyncClient
) -> None:
    fs = scale
    held = await until_balanced(fs, http)
    await until_one_consumer_per_send_queue(fs)
    dead_before = fs.dead_letters()
    crowd = await sharded_crowd(fs, http)
    try:
        sent: Sent = []
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop, sent))
        await until("acks from every replica", lambda: _true(acked(crowd) >= 40), 30)
        victim = max(held, key=lambda n: len(held[n]["shards"]))
        victim_shards = set(held[victim]["shards"])
        survivors = {held[n]["owner"] for n in held if n != victim}
        table = await lease_table(fs)
        fs.stack.kill(victim)
        log.info("killed %s holding shards %s", victim, sorted(victim_shards))

        async def moved() -> bool:
            table = await lease_table(fs)
            if not all(table[s][0] in survivors for s in victim_shards):
                return False
            now = await leases_of(fs, http)
            return victim_shards <= {s for d in now.values() for s in d["shards"]}

        took = await until("the killed replica's shards held by the others", moved, 20)
        log.info("shards %s moved in %.1f s", sorted(victim_shards), took)
        assert took <= MOVE_WITHIN_S
        after = await lease_table(fs)
        assert all(after[s][1] > table[s][1] for s in victim_shards)  # new fencing tokens
        # Sends to the moved shards are acked again (not only the ones held up meanwhile).
        marker = len(sent)
        await until(
            "acks on the moved shards",
            lambda: _true(
                any(
                    cmid in client.acked and shard_of(room) in victim_shards
                    for client, room, cmid in sent[marker:]
                )
            ),
            20,
        )
        await fs.call(fs.stack.restart, victim)
        rejoined = await until_balanced(fs, http)
        assert len(rejoined[victim]["shards"]) >= 2
        stop.set()
        await load
        verdict = await settle_and_verify(fs, crowd)
        assert verdict.acked == len(sent)
        assert_each_sender_in_order(sent)
        assert_no_dead_letters(fs, dead_before)
    finally:
        await close_crowd(crowd)


async def _true(value: bool) -> bool:
    return value


# --- SIGSTOP past the lease ---------------------------------------------------------------

SLOW_S = 1.5
WRITE_LOG_SQL = f"""
CREATE TABLE IF NOT EXISTS fault_room_shards (room_id uuid PRIMARY KEY, shard int NOT NULL);
CREATE TABLE IF NOT EXISTS fault_writes (
  message_id uuid, room_id uuid, writer text, at timestamptz, lease_owner text, lease_epoch bigint
);
CREATE OR REPLACE FUNCTION fault_slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.text LIKE 'SLOW %' THEN PERFORM pg_sleep({SLOW_S}); END IF;
  RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION fault_log_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO fault_writes
  SELECT NEW.id, NEW.room_id, current_setting('application_name'), clock_timestamp(),
         l.owner, l.epoch
  FROM fault_room_shards s JOIN send_shard_leases l ON l.shard = s.shard
  WHERE s.room_id = NEW.room_id;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS fault_slow_insert ON messages;
CREATE TRIGGER fault_slow_insert BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION fault_slow_insert();
DROP TRIGGER IF EXISTS fault_log_write ON messages;
CREATE TRIGGER fault_log_write AFTER INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION fault_log_write();
"""
UNDO_SQL = """
DROP TRIGGER IF EXISTS fault_slow_insert ON messages;
DROP TRIGGER IF EXISTS fault_log_write ON messages;
DROP FUNCTION IF EXISTS fault_slow_insert();
DROP FUNCTION IF EXISTS fault_log_write();
DROP TABLE IF EXISTS fault_writes;
DROP TABLE IF EXISTS fault_room_shards;
"""


@pytest_asyncio.fixture
async def write_log(scale: FaultStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(scale.messages_dsn)
    try:
        await conn.execute(WRITE_LOG_SQL)
        yield conn
    finally:
        await conn.execute(UNDO_SQL)
        await conn.close()


async def owner_in_slow_insert(conn: asyncpg.Connection) -> str:
    """The lease owner whose batch transaction is sleeping inside the marked insert."""
    while True:
        name = await conn.fetchval(
            "SELECT application_name FROM pg_stat_activity "
            "WHERE wait_event = 'PgSleep' AND state = 'active' AND query ILIKE '%messages%' "
            "LIMIT 1"
        )
        if name is not None:
            assert name.startswith(APP_PREFIX), name
            return str(name)[len(APP_PREFIX) :]
        await asyncio.sleep(0.05)


async def test_a_replica_paused_past_its_lease_commits_nothing_and_rejoins(
    scale: FaultStack, http: httpx.AsyncClient, write_log: asyncpg.Connection
) -> None:
    fs = scale
    held = await until_balanced(fs, http)
    dead_before = fs.dead_letters()
    crowd = await sharded_crowd(fs, http)
    await write_log.executemany(
        "INSERT INTO fault_room_shards VALUES ($1, $2)",
        [(uuid.UUID(room), shard_of(room)) for room in crowd.rooms],
    )
    paused: int | None = None
    try:
        sent: Sent = []
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(crowd, stop, sent))
        await until("acks", lambda: _true(acked(crowd) >= 20), 30)
        sender = crowd.clients[0]
        room = crowd.member_rooms(sender)[0]
        marked = await sender.send(room, f"SLOW {uuid.uuid4()}")
        owner = await asyncio.wait_for(owner_in_slow_insert(write_log), 20)
        victim = next(n for n, d in held.items() if d["owner"] == owner)
        paused = fs.stack.pids()[victim]
        os.kill(paused, signal.SIGSTOP)  # inside its open batch transaction
        old = {(s, e) for s, (o, e) in (await lease_table(fs)).items() if o == owner}
        log.info("paused %s (%s) holding %s", victim, owner, sorted(old))
        assert old, "the paused replica held no lease"

        async def taken_over() -> bool:
            table = await lease_table(fs)
            return all(o is not None and o != owner for o, _ in table.values())

        took = await until("every shard held by the other two", taken_over, 40)
        log.info("the others hold every shard %.1f s after the pause", took)
        resumed_at = await write_log.fetchval("SELECT clock_timestamp()")
        os.kill(paused, signal.SIGCONT)
        paused = None
        rejoined = await until_balanced(fs, http)
        assert rejoined[victim]["owner"] == owner  # the same process, back with a share
        assert all((int(s), e) not in old for s, e in rejoined[victim]["epochs"].items())
        stop.set()
        await load
        verdict = await settle_and_verify(fs, crowd)
        assert marked in sender.acked
        assert verdict.acked == len(sent) + 1
        assert_each_sender_in_order(sent)
        writes = await write_log.fetch(
            "SELECT w.*, s.shard FROM fault_writes w JOIN fault_room_shards s USING (room_id)"
        )
        assert len(writes) == verdict.rows
        for w in writes:
            # Every message was written by the process holding its shard's lease right then.
            assert w["writer"] == APP_PREFIX + str(w["lease_owner"]), dict(w)
        resumed = [w for w in writes if w["writer"] == APP_PREFIX + owner and w["at"] > resumed_at]
        assert all((w["shard"], w["lease_epoch"]) not in old for w in resumed), resumed
        (marked_write,) = [w for w in writes if str(w["message_id"]) == sender.acked[marked]["id"]]
        assert (marked_write["shard"], marked_write["lease_epoch"]) not in old
        assert_no_dead_letters(fs, dead_before)
    finally:
        if paused is not None:
            os.kill(paused, signal.SIGCONT)
        await close_crowd(crowd)
