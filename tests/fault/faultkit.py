"""Shared pieces of the fault tier: the private stack handle, a crowd of chat clients under
load, and the end-of-test check that every acknowledged message is in the database exactly once
and in every member's view."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import httpx
import psutil  # type: ignore[import-untyped]
from chat_devtools.private import PrivatePostgres, PrivateRabbitMQ
from chat_devtools.stack import Stack
from chatclient import ChatApi, ChatClient, User

T = TypeVar("T")
log = logging.getLogger("fault")

PORT_RANGE = (28500, 28999)
SEND_SHARDS = 8
DELIVERY_LIMIT = 5  # message-service and topology default (x-delivery-limit)


def free_ports_in_range(count: int, port_range: tuple[int, int] = PORT_RANGE) -> list[int]:
    candidates = list(range(port_range[0], port_range[1] + 1))
    random.shuffle(candidates)
    ports: list[int] = []
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"not enough free ports in {port_range}")


@dataclass
class FaultStack:
    stack: Stack
    rabbitmq: PrivateRabbitMQ
    postgres: PrivatePostgres
    # Children die with the *thread* that started them (PR_SET_PDEATHSIG in chat_devtools), so
    # processes (re)started during a test are started from this one long-lived thread, never
    # from asyncio.to_thread's workers, which end with each test's event loop.
    starter: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="fault-starter")
    )

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking start/stop/restart off the event loop (clients keep running)."""
        return await asyncio.get_running_loop().run_in_executor(self.starter, fn, *args)

    @property
    def auth_url(self) -> str:
        return self.stack.url("auth")

    @property
    def gateway_names(self) -> list[str]:
        return [n for n in self.stack.processes if n.startswith("gateway")]

    @property
    def message_names(self) -> list[str]:
        return [n for n in self.stack.processes if n.startswith("message")]

    def ws_url(self, name: str) -> str:
        return self.stack.url(name).replace("http://", "ws://") + "/v1/ws"

    @property
    def message_urls(self) -> list[str]:
        return [self.stack.url(n) for n in self.message_names]

    @property
    def messages_dsn(self) -> str:
        return self.postgres.database_url("chat_messages").replace("+asyncpg", "")

    def heal(self) -> None:
        """Everything running and ready again, whatever the previous test did to it."""
        if not self.rabbitmq.running:
            self.rabbitmq.start()
        if not self.postgres.running:
            self.postgres.start()
        for name, proc in self.stack.processes.items():
            if not proc.running:
                proc.start()
        self.stack.wait_ready(timeout=90)

    def queue_depths(self) -> dict[str, int]:
        """Ready messages per queue of the private broker (rabbitmqctl, authoritative)."""
        out = self.rabbitmq.ctl("list_queues", "-q", "--no-table-headers", "name", "messages")
        depths: dict[str, int] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                depths[parts[0]] = int(parts[1])
        return depths

    def dead_letters(self) -> dict[str, int]:
        return {n: c for n, c in self.queue_depths().items() if n.endswith(".dead")}


@dataclass
class Crowd:
    """Users with open sockets, in rooms, sending; what every fault test puts under load."""

    api: ChatApi
    clients: list[ChatClient]
    rooms: dict[str, list[ChatClient]]  # room id -> member clients

    def member_rooms(self, client: ChatClient) -> list[str]:
        return [r for r, members in self.rooms.items() if client in members]


async def make_crowd(
    fs: FaultStack,
    http: httpx.AsyncClient,
    *,
    clients: int = 12,
    gateways: list[str] | None = None,
) -> Crowd:
    """`clients` users: all in room A, every other one in room B too; socket i connects first to
    gateway i mod len(gateways) and knows the others for its reconnects."""
    api = ChatApi(fs.auth_url, fs.message_urls, http)
    users: list[User] = list(await asyncio.gather(*(api.register() for _ in range(clients))))
    owner = users[0]
    room_a = await api.create_room(owner, f"fault-a-{uuid.uuid4().hex[:8]}")
    room_b = await api.create_room(owner, f"fault-b-{uuid.uuid4().hex[:8]}")
    members_b = users[::2]
    await asyncio.gather(*(api.join_room(u, room_a) for u in users[1:]))
    await asyncio.gather(*(api.join_room(u, room_b) for u in members_b[1:]))
    names = gateways or fs.gateway_names
    urls = [fs.ws_url(n) for n in names]
    crowd_clients: list[ChatClient] = []
    for i, user in enumerate(users):
        rooms = [room_a, room_b] if user in members_b else [room_a]
        ordered = urls[i % len(urls) :] + urls[: i % len(urls)]
        crowd_clients.append(ChatClient(api, user, ordered, rooms, name=f"c{i}"))
    await asyncio.gather(*(c.start() for c in crowd_clients))
    rooms_map = {
        room_a: list(crowd_clients),
        room_b: [c for c in crowd_clients if c.user in members_b],
    }
    return Crowd(api, crowd_clients, rooms_map)


async def fetch_messages(dsn: str, room_ids: list[str]) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text, room_id::text, seq, sender_id::text, client_msg_id::text "
            "FROM messages WHERE room_id = ANY($1::uuid[]) ORDER BY room_id, seq",
            room_ids,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def run_load(
    crowd: Crowd, stop: asyncio.Event, *, interval_s: float = 0.4, room: str | None = None
) -> int:
    """Every client sends to its rooms (or only `room`) every ~interval_s until `stop` is set.
    Sends are queued in the client's outbox, so a down socket delays them, never drops them."""

    async def one(client: ChatClient) -> int:
        rooms = [room] if room else crowd.member_rooms(client)
        n = 0
        while not stop.is_set():
            n += 1
            await client.send(random.choice(rooms), f"{client.name} says #{n}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s * random.uniform(0.5, 1.5))
        return n

    counts = await asyncio.gather(*(one(c) for c in crowd.clients))
    return sum(counts)


@dataclass
class Verdict:
    acked: int
    rows: int
    per_room: dict[str, int]


def _lagging(crowd: Crowd, rows: list[dict[str, Any]]) -> list[str]:
    """Members whose view lacks part of their room's rows (the client rules did not fetch it)."""
    lagging = []
    for room_id, members in crowd.rooms.items():
        ids = {r["id"] for r in rows if r["room_id"] == room_id}
        for client in members:
            seen = {m["id"] for m in client.views[room_id].messages.values()}
            if not ids <= seen:
                lagging.append(f"{client.name} misses {len(ids - seen)} in {room_id}")
    return lagging


async def settle_and_verify(
    fs: FaultStack, crowd: Crowd, *, ack_timeout_s: float = 60.0, converge_s: float = 15.0
) -> Verdict:
    """The invariant of QA-002 after a fault: every message that got a `message.ack` is in the
    database exactly once (same id and seq as acked), every room's seq is gapless, and every
    member's final view is exactly the database.

    The views must get there by the client rules alone (live frames, and after_seq fetches on
    `ready`, `resync` and gaps), without a fetch forced by the test: a lost live event that no
    rule would notice fails here. A forced catch-up afterwards must then change nothing."""
    log.info("before settling: %s", crowd_summary(crowd))
    await asyncio.gather(*(c.wait_all_acked(ack_timeout_s) for c in crowd.clients))
    rows = await fetch_messages(fs.messages_dsn, list(crowd.rooms))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + converge_s
    while lagging := _lagging(crowd, rows):
        if loop.time() > deadline:
            raise AssertionError(f"views did not converge by the client rules: {lagging[:5]}")
        await asyncio.sleep(0.2)
    await asyncio.gather(*(c.catch_up(ack_timeout_s) for c in crowd.clients))
    rows = await fetch_messages(fs.messages_dsn, list(crowd.rooms))
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault((row["sender_id"], row["client_msg_id"]), []).append(row)
    acked = 0
    for client in crowd.clients:
        assert client.violations == [], f"{client.name}: {client.violations[:3]}"
        for client_msg_id, message in client.acked.items():
            acked += 1
            found = by_key.get((client.user.id, client_msg_id), [])
            assert len(found) == 1, (
                f"acked {client_msg_id} of {client.name} is in the DB {len(found)} times"
            )
            assert (found[0]["id"], found[0]["seq"]) == (message["id"], message["seq"])
    per_room: dict[str, int] = {}
    for room_id, members in crowd.rooms.items():
        room_rows = [r for r in rows if r["room_id"] == room_id]
        seqs = [r["seq"] for r in room_rows]
        assert seqs == list(range(1, len(seqs) + 1)), f"room {room_id} seq has gaps or repeats"
        expected = [r["id"] for r in room_rows]
        for client in members:
            view = client.views[room_id]
            assert view.ordered_ids() == expected, (
                f"{client.name}'s view of {room_id} differs from the database: "
                f"{len(view.messages)} vs {len(expected)} messages"
            )
        per_room[room_id] = len(room_rows)
    # Every row of these rooms was sent by a crowd client that got it acked (nothing unasked-for).
    assert len(rows) == acked, f"{len(rows)} rows in the database for {acked} acked sends"
    log.info("verified: %d acked = %d rows, per room %s", acked, len(rows), per_room)
    return Verdict(acked=acked, rows=len(rows), per_room=per_room)


def crowd_summary(crowd: Crowd) -> dict[str, Any]:
    """What the clients went through (shown in the log of a failing test)."""
    errors: dict[str, int] = {}
    for c in crowd.clients:
        for e in c.errors:
            code = str(e.get("code"))
            errors[code] = errors.get(code, 0) + 1
    return {
        "acked": sum(len(c.acked) for c in crowd.clients),
        "unacked": sum(len(c.outbox) for c in crowd.clients),
        "retransmits": sum(c.retransmits for c in crowd.clients),
        "rejected": sum(len(c.rejected) for c in crowd.clients),
        "disconnects": sum(c.disconnects for c in crowd.clients),
        "readies": sum(c.ready_count for c in crowd.clients),
        "resyncs": sum(c.resyncs for c in crowd.clients),
        "errors": errors,
    }


async def close_crowd(crowd: Crowd) -> None:
    await asyncio.gather(*(c.close() for c in crowd.clients), return_exceptions=True)


def assert_no_dead_letters(fs: FaultStack, baseline: dict[str, int]) -> None:
    now = fs.dead_letters()
    grown = {n: c for n, c in now.items() if c > baseline.get(n, 0)}
    assert grown == {}, f"dead-lettered during the test: {grown}"


# -- a message-service replica caught inside a slow insert (kill -9 / SIGTERM mid-batch) --

SLOW_S = 1.5
SLOW_SQL = f"""
CREATE OR REPLACE FUNCTION fault_slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.text LIKE 'SLOW %' THEN PERFORM pg_sleep({SLOW_S}); END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS fault_slow_insert ON messages;
CREATE TRIGGER fault_slow_insert BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION fault_slow_insert();
"""
UNDO_SQL = """
DROP TRIGGER IF EXISTS fault_slow_insert ON messages;
DROP FUNCTION IF EXISTS fault_slow_insert();
"""


async def replica_in_slow_insert(fs: FaultStack, conn: asyncpg.Connection) -> str:
    """The stack process whose database connection is sleeping inside the marked insert."""
    while True:
        port = await conn.fetchval(
            "SELECT client_port FROM pg_stat_activity "
            "WHERE wait_event = 'PgSleep' AND state = 'active' AND query ILIKE '%messages%' "
            "LIMIT 1"
        )
        if port is not None:
            for name in fs.message_names:
                pid = fs.stack.pids().get(name)
                if pid is None:
                    continue
                local_ports = {c.laddr.port for c in psutil.Process(pid).net_connections("tcp")}
                if port in local_ports:
                    return name
        await asyncio.sleep(0.05)
