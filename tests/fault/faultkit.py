"""Shared pieces of the fault tier: the private stack handle, a crowd of chat clients under
load (plain texts, or the mixed entries of api-v1.1 A: texts, edits, deletes and reactions,
no-op reactions included), and the end-of-test check that every acknowledged entry is in the
database exactly once, its effects applied once (the targets' state equals a replay of the
entries) and every member's view and rebuilt room equal the database and the history."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import httpx
import psutil  # type: ignore[import-untyped]
from chat_devtools.private import PrivatePostgres, PrivateRabbitMQ
from chat_devtools.stack import Stack
from chat_devtools.timeline import snapshot_of
from chatclient import ChatApi, ChatClient, User

T = TypeVar("T")
log = logging.getLogger("fault")


def _port_range() -> tuple[int, int]:
    """28500-28999, or CHAT_FAULT_PORT_RANGE=low-high (a block of one's own on a shared host)."""
    low, _, high = os.environ.get("CHAT_FAULT_PORT_RANGE", "28500-28999").partition("-")
    return int(low), int(high)


PORT_RANGE = _port_range()
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
            "SELECT id::text, room_id::text, seq, sender_id::text, client_msg_id::text, kind, "
            "text, target_id::text, emoji, added, created_at, edited_at, deleted, "
            "coalesce(state_seq, seq) AS state_seq "
            "FROM messages WHERE room_id = ANY($1::uuid[]) ORDER BY room_id, seq",
            room_ids,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def fetch_effects(
    dsn: str, room_ids: list[str]
) -> tuple[dict[tuple[str, str, str], int], set[tuple[str, str]]]:
    """The reactions rows of these rooms' messages ((message, emoji, user) -> seq of the entry
    that added it) and the recorded no-op sends ((sender, client_msg_id), each once)."""
    conn = await asyncpg.connect(dsn)
    try:
        reactions = await conn.fetch(
            "SELECT r.message_id::text, r.emoji, r.user_id::text, r.seq FROM reactions r "
            "JOIN messages m ON m.id = r.message_id WHERE m.room_id = ANY($1::uuid[])",
            room_ids,
        )
        noops = await conn.fetch(
            "SELECT sender_id::text, client_msg_id::text FROM noop_sends "
            "WHERE room_id = ANY($1::uuid[])",
            room_ids,
        )
    finally:
        await conn.close()
    keys = [(r["sender_id"], r["client_msg_id"]) for r in noops]
    assert len(keys) == len(set(keys)), "a no-op send recorded twice"
    return {(r["message_id"], r["emoji"], r["user_id"]): r["seq"] for r in reactions}, set(keys)


EMOJI = ("👍", "🎉", "❤️")
# The benchmark's mixed run (issue #14): 70 % text, 15 % reactions, 10 % edits, 5 % deletes.
MIX: tuple[tuple[str, int], ...] = (("text", 70), ("reaction", 15), ("edit", 10), ("delete", 5))
NOOP_SHARE = 0.1  # reactions that change nothing on purpose (add one held, remove one not held)


@dataclass
class MixedSender:
    """One client's mixed entries: edits and deletes of the texts this load sent for it (so a
    test's own messages are never touched), reactions on any text of its view."""

    client: ChatClient
    own: dict[str, list[str]] = field(default_factory=dict)  # room -> client_msg_ids of texts
    deleted: set[str] = field(default_factory=set)  # message ids it deleted
    reacted: dict[tuple[str, str], bool] = field(default_factory=dict)  # (id, emoji) -> held

    def own_live(self, room: str) -> list[str]:
        acked = self.client.acked
        ids = [acked[c]["id"] for c in self.own.get(room, []) if c in acked]
        return [i for i in ids if i not in self.deleted]

    async def send(self, room: str, n: int) -> None:
        kind = random.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        name = self.client.name
        if kind in ("edit", "delete") and (own := self.own_live(room)):
            target = random.choice(own)
            if kind == "delete":
                self.deleted.add(target)
                await self.client.send(room, kind="delete", target_id=target)
            else:
                await self.client.send(room, f"{name} edits #{n}", kind="edit", target_id=target)
            return
        texts = self.client.views[room].timeline.texts.values()
        targets = [t.id for t in texts if not t.deleted]
        if kind == "reaction" and targets:
            target, emoji = random.choice(targets), random.choice(EMOJI)
            held = self.reacted.get((target, emoji), False)
            added = held if random.random() < NOOP_SHARE else not held
            self.reacted[(target, emoji)] = added
            await self.client.send(
                room, kind="reaction", target_id=target, emoji=emoji, added=added
            )
            return
        cmid = await self.client.send(room, f"{name} says #{n}")
        self.own.setdefault(room, []).append(cmid)


async def run_load(
    crowd: Crowd,
    stop: asyncio.Event,
    *,
    interval_s: float = 0.4,
    room: str | None = None,
    mixed: bool = False,
) -> int:
    """Every client sends to its rooms (or only `room`) every ~interval_s until `stop` is set:
    plain texts, or with `mixed` the entries of MIX. Sends are queued in the client's outbox,
    so a down socket delays them, never drops them. Returns how many were sent."""

    async def one(client: ChatClient) -> int:
        rooms = [room] if room else crowd.member_rooms(client)
        sender = MixedSender(client)
        n = 0
        while not stop.is_set():
            n += 1
            if mixed:
                await sender.send(random.choice(rooms), n)
            else:
                await client.send(random.choice(rooms), f"{client.name} says #{n}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s * random.uniform(0.5, 1.5))
        return n

    counts = await asyncio.gather(*(one(c) for c in crowd.clients))
    return sum(counts)


@dataclass
class Verdict:
    acked: int  # sends acknowledged (no-ops included)
    rows: int  # entries of the crowd's sends in the database (system entries not counted)
    per_room: dict[str, int]
    noops: int = 0
    rejected: int = 0  # refused sends (not retried; none is in the database)
    kinds: dict[str, int] = field(default_factory=dict)  # stored entries per kind


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
    fs: FaultStack,
    crowd: Crowd,
    *,
    ack_timeout_s: float = 60.0,
    converge_s: float = 15.0,
    refusals: frozenset[str] = frozenset(),
) -> Verdict:
    """The invariant of QA-002 after a fault, for every entry kind (api-v1.1 A): every send
    that got a `message.ack` is in the database exactly once (same id and seq as acked) with
    what was sent, or with `noop: true` is no entry and is recorded once as a no-op; every
    room's seq is gapless; each target's state (text, edited_at, deleted, reactions, state_seq)
    in the tables and in the history equals a replay of the stored entries in seq order (an
    effect applied twice or lost shows there); and every member's final view is exactly the
    database, its rebuilt room exactly the history.

    The views must get there by the client rules alone (live frames, and after_seq fetches on
    `ready`, `resync` and gaps), without a fetch forced by the test: a lost live event that no
    rule would notice fails here. A forced catch-up afterwards must then change nothing.
    `refusals`: error codes a send may meet under this load (e.g. `not_found` for a reaction
    to a message deleted meanwhile); such sends must not be in the database."""
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
    checks_from = loop.time()
    reactions, noop_sends = await fetch_effects(fs.messages_dsn, list(crowd.rooms))
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault((row["sender_id"], row["client_msg_id"]), []).append(row)
    acked = noops = rejected = 0
    for client in crowd.clients:
        assert client.violations == [], f"{client.name}: {client.violations[:3]}"
        for client_msg_id, message in client.acked.items():
            acked += 1
            found = by_key.get((client.user.id, client_msg_id), [])
            if client_msg_id in client.noops:
                noops += 1
                assert found == [], f"no-op {client_msg_id} of {client.name} is an entry"
                assert (client.user.id, client_msg_id) in noop_sends, "no-op not recorded"
                continue
            assert len(found) == 1, (
                f"acked {client_msg_id} of {client.name} is in the DB {len(found)} times"
            )
            assert (found[0]["id"], found[0]["seq"]) == (message["id"], message["seq"])
            _assert_as_sent(found[0], client.sent[client_msg_id].entry)
        for client_msg_id, code in client.rejected.items():
            rejected += 1
            assert code in refusals, f"{client.name}: {client_msg_id} refused with {code}"
            assert (client.user.id, client_msg_id) not in by_key, "a refused send is stored"
    per_room: dict[str, int] = {}
    kinds: dict[str, int] = {}
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
        sent = {
            (c.user.id, cmid): pending.text
            for c in members
            for cmid, pending in c.sent.items()
        }
        _assert_replayed(room_rows, reactions, sent)
        history = await crowd.api.history_after(members[0].user, room_id, 0, retry_for_s=30)
        _assert_history_is_the_tables(history, room_rows, reactions)
        snapshot = [snapshot_of(m) for m in history if m["kind"] == "text"]
        for client in members:
            timeline = client.views[room_id].timeline
            assert timeline.conflicts == [], f"{client.name}: {timeline.conflicts[:2]}"
            assert timeline.ids() == [m["id"] for m in history]
            assert timeline.snapshot() == snapshot, (
                f"{client.name}'s rebuilt room {room_id} differs from the history"
            )
        per_room[room_id] = len(room_rows)
        for row in room_rows:
            kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    # Every entry of these rooms but the service's own (system: joins) was sent by a crowd
    # client that got it acked (nothing unasked-for).
    stored = len(rows) - kinds.get("system", 0)
    assert stored == acked - noops, f"{stored} entries in the database for {acked} acked sends"
    log.info(
        "verified in %.1fs: %d acked (%d no-ops, %d refused) = %d entries, kinds %s, per room %s",
        loop.time() - checks_from,
        acked,
        noops,
        rejected,
        stored,
        kinds,
        per_room,
    )
    return Verdict(acked, stored, per_room, noops=noops, rejected=rejected, kinds=kinds)


def _assert_as_sent(row: dict[str, Any], entry: dict[str, Any]) -> None:
    """The stored entry is the one sent: kind, target, emoji, added (`added` absent = true)."""
    kind = entry.get("kind", "text")
    assert row["kind"] == kind, f"{row['id']} stored as {row['kind']}, sent as {kind}"
    if kind != "text":
        assert row["target_id"] == entry.get("target_id"), f"{row['id']}: another target"
    if kind == "reaction":
        assert (row["emoji"], row["added"]) == (entry["emoji"], entry.get("added", True))


@dataclass
class _Replayed:
    text: str
    deleted: bool = False
    edited_at: datetime | None = None
    state_seq: int = 0
    edits: list[str] = field(default_factory=list)  # ids of its edit entries


def _assert_replayed(
    rows: list[dict[str, Any]],
    reactions: dict[tuple[str, str, str], int],
    sent: dict[tuple[str, str], str],
) -> None:
    """Replay one room's entries in seq order with what their senders sent, and compare the
    targets' stored state: each change applied exactly once, none lost."""
    texts: dict[str, _Replayed] = {}
    held: dict[tuple[str, str, str], int] = {}  # (message, emoji, user) -> seq that added it
    for row in rows:
        kind, seq = row["kind"], row["seq"]
        content = sent.get((row["sender_id"], row["client_msg_id"]))
        if kind == "text":
            texts[row["id"]] = _Replayed(content if content is not None else row["text"])
            texts[row["id"]].state_seq = seq
            continue
        if kind not in ("edit", "delete", "reaction"):
            continue
        target = texts.get(row["target_id"])
        assert target is not None, f"{kind} {row['id']} names no text entry before it"
        assert not target.deleted, f"{kind} {row['id']} stored for a deleted target"
        target.state_seq = seq
        if kind == "edit":
            assert content is not None, f"edit {row['id']} was sent by nobody of the crowd"
            target.text, target.edited_at = content, row["created_at"]
            target.edits.append(row["id"])
        elif kind == "delete":
            target.text, target.deleted = "", True
            for key in [k for k in held if k[0] == row["target_id"]]:
                del held[key]
        else:
            key = (row["target_id"], row["emoji"], row["sender_id"])
            if row["added"]:
                assert key not in held, f"reaction {row['id']} added one already held (no-op?)"
                held[key] = seq
            else:
                assert key in held, f"reaction {row['id']} removed one not held (no-op?)"
                del held[key]
    by_id = {r["id"]: r for r in rows}
    for text_id, want in texts.items():
        row = by_id[text_id]
        got = (row["text"], row["deleted"], row["edited_at"], row["state_seq"])
        assert got == (want.text, want.deleted, want.edited_at, want.state_seq), (
            f"text {text_id} (seq {row['seq']}) is {got}, replay gives {want}"
        )
        if want.deleted:
            erased = [by_id[e]["text"] for e in want.edits]
            assert set(erased) <= {""}, f"deleted {text_id}: its edits keep text {erased}"
    room_texts = set(texts)
    stored = {k: v for k, v in reactions.items() if k[0] in room_texts}
    assert stored == held, f"reactions stored {len(stored)}, replay gives {len(held)}"


def _assert_history_is_the_tables(
    history: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    reactions: dict[tuple[str, str, str], int],
) -> None:
    """The history endpoint returns each text entry's stored state, reaction counts included."""
    assert [m["id"] for m in history] == [r["id"] for r in rows]
    created = {m["id"]: m["created_at"] for m in history}
    by_id = {r["id"]: r for r in rows}
    last_edit: dict[str, str] = {}
    for row in rows:
        if row["kind"] == "edit":
            last_edit[row["target_id"]] = row["id"]
    for message in history:
        if message["kind"] != "text":
            continue
        row = by_id[message["id"]]
        users: dict[str, set[str]] = {}
        for (target, emoji, user), _seq in reactions.items():
            if target == message["id"]:
                users.setdefault(emoji, set()).add(user)
        shown = {
            r["emoji"]: (r["count"], set(r["user_ids"])) for r in message.get("reactions") or []
        }
        assert shown == {e: (len(u), u) for e, u in users.items()}, f"reactions of {row['id']}"
        assert (message["text"], message["deleted"], message["state_seq"]) == (
            row["text"],
            row["deleted"],
            row["state_seq"],
        ), f"history's {row['id']} differs from its row"
        edit = last_edit.get(message["id"])
        assert message.get("edited_at") == (created[edit] if edit else None)


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
# Which entry kinds the sleeping transaction had stored before the marked row (a bit each, read
# with `batch_kinds`): set before the sleep through a sequence, which is not transactional, so
# the test sees it while the transaction is open and after it was killed.
KIND_BITS = {"text": 1, "edit": 2, "delete": 4, "reaction": 8}
SLOW_SQL = f"""
CREATE SEQUENCE IF NOT EXISTS fault_batch_kinds MINVALUE 0;
CREATE OR REPLACE FUNCTION fault_slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE kinds bigint;
BEGIN
  IF NEW.text LIKE 'SLOW %' THEN
    -- Rows this transaction wrote (earlier rows of the same statement included); a target an
    -- edit, delete or reaction updated is left out by its state_seq above its own seq.
    SELECT coalesce(bit_or(CASE kind WHEN 'text' THEN 1 WHEN 'edit' THEN 2 WHEN 'delete' THEN 4
                                      WHEN 'reaction' THEN 8 ELSE 16 END), 0)
      INTO kinds FROM messages
      WHERE xmin = pg_current_xact_id()::xid AND coalesce(state_seq, seq) = seq;
    PERFORM setval('fault_batch_kinds', kinds, true);
    PERFORM pg_sleep({SLOW_S});
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS fault_slow_insert ON messages;
CREATE TRIGGER fault_slow_insert BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION fault_slow_insert();
"""
UNDO_SQL = """
DROP TRIGGER IF EXISTS fault_slow_insert ON messages;
DROP FUNCTION IF EXISTS fault_slow_insert();
DROP SEQUENCE IF EXISTS fault_batch_kinds;
"""


async def batch_kinds(conn: asyncpg.Connection) -> set[str]:
    """The kinds the last transaction caught in the marked insert had written before it."""
    bits = int(await conn.fetchval("SELECT last_value FROM fault_batch_kinds"))
    return {kind for kind, bit in KIND_BITS.items() if bits & bit}


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
