"""Messaging load generator: real users, real sockets, through the edge.

Registers users (or reuses those in a cache file), puts them in rooms, opens one WebSocket per
client, sends at a fixed rate for a fixed time and measures, from the clients' point of view:
ack latency (send -> message.ack), delivery latency (send -> message.new at every other member),
lost and duplicated deliveries, the CPU seconds and RSS of every service process, and the CPU of
the edge (nginx), RabbitMQ, PostgreSQL and the generator itself over the send window.

Sign-in and room placement run once in this process; the rooms (each with all its members) are
then split over --workers processes, so every latency is measured in the process that both sent
the message and received it. The workers open their sockets, wait until all are ready and start
sending at one shared moment, each at its share of --rate. The receive path does as little as
possible per frame: frames are handled in the connection's protocol callback, stamped when the
bytes arrive, parsed with orjson, with no per-socket reader task or message queue.

The run is bounded: it stops after --duration seconds plus a drain period and talks only to the
URL it is given (loopback by default).

    .venv/bin/python bench/load.py --clients 1000 --rooms 50 --rate 500 --duration 60

Issue #14 adds two modes (bench/mixed.py, bench/timeline.py):
- `--mix text=70,reaction=15,edit=10,delete=5`: the same run with edits, deletes and reactions
  among the sends; latencies and counts per kind, no-ops and refusals counted, and afterwards
  (`--verify`, on by default for a mix) every client's received entries applied with the
  `state_seq` rule and compared with the room's history.
- `--scenario storm --clients 60 --rooms 1 --storm-reactors 50`: one message, then 50 users
  react to it within one second (adds), then again within one second (removals, second emoji,
  re-adds that must be no-ops); every client's view of the message is compared with history and
  with the counts the reactors' own actions imply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil  # type: ignore[import-untyped]
import timeline
import uvloop
import websockets
from mixed import EMOJI, Actor, Mixer, Op, parse_mix
from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.typing import Subprotocol

SERVICE_PORTS = {"auth": 8001, "gateway": 8002, "message": 8003, "presence": 8004}
# What a worker reports; the parent merges these (latencies in seconds).
Result = dict[str, Any]


@dataclass
class Client:
    username: str
    user_id: str
    token: str
    room_id: str = ""


def summary(values: list[float], mean: bool = False) -> dict[str, float | None]:
    """Percentiles in ms (nearest rank, as before), sorting once."""
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for key, q in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)):
        out[key] = percentile(ordered, q, presorted=True)
    if mean:
        out["mean"] = round(statistics.fmean(ordered) * 1000, 2) if ordered else None
    out["max"] = round(ordered[-1] * 1000, 2) if ordered else None
    out["count"] = len(ordered)
    return out


def percentile(values: list[float], q: float, presorted: bool = False) -> float | None:
    if not values:
        return None
    ordered = values if presorted else sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index] * 1000, 2)


# --- CPU accounting -------------------------------------------------------------------------


def service_processes(ports: dict[str, int]) -> dict[str, psutil.Process]:
    found: dict[str, psutil.Process] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or conn.pid is None:
            continue
        for name, port in ports.items():
            if conn.laddr.port == port:
                found[name] = psutil.Process(conn.pid)
    return found


def snapshot(procs: dict[str, psutil.Process]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, proc in procs.items():
        try:
            cpu = proc.cpu_times()
            out[name] = {
                "cpu_s": cpu.user + cpu.system,
                "rss_mb": proc.memory_info().rss / 2**20,
            }
        except psutil.Error:
            continue
    return out


def edge_root(port: int) -> psutil.Process | None:
    """The process tree's root listening on the edge port: nginx's master (its workers share the
    listening socket, so walk up while the parent has the same name)."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or conn.pid is None or conn.laddr.port != port:
            continue
        try:
            proc = psutil.Process(conn.pid)
            while (parent := proc.parent()) is not None and parent.name() == proc.name():
                proc = parent
        except psutil.Error:
            continue
        return proc
    return None


def infra_groups(edge: psutil.Process | None) -> dict[str, list[psutil.Process]]:
    """Processes of the shared infrastructure, enumerated afresh at each snapshot (PostgreSQL
    forks a backend per connection)."""
    groups: dict[str, list[psutil.Process]] = {"edge": [], "rabbitmq": [], "postgres": []}
    if edge is not None:
        with contextlib.suppress(psutil.Error):
            groups["edge"] = [edge, *edge.children(recursive=True)]
    for proc in psutil.process_iter(["name"]):
        name = proc.info["name"]
        if name == "beam.smp":
            groups["rabbitmq"].append(proc)
        elif name == "postgres":
            groups["postgres"].append(proc)
    return groups


def group_cpu(groups: dict[str, list[psutil.Process]]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for name, procs in groups.items():
        seen: dict[int, float] = {}
        for proc in procs:
            try:
                cpu = proc.cpu_times()
            except psutil.Error:
                continue
            seen[proc.pid] = cpu.user + cpu.system
        out[name] = seen
    return out


def group_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between the snapshots by the processes alive at the second one (a process born
    in between counts whole; one that died in between is missed)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


@dataclass
class Window:
    """Everything measured at one instant: the window's ends."""

    at: float
    services: dict[str, dict[str, float]]
    infra: dict[str, dict[int, float]]
    generator: dict[str, dict[str, float]]
    machine: Any  # psutil's scputimes


def take_window(
    services: dict[str, psutil.Process],
    edge: psutil.Process | None,
    generator: dict[str, psutil.Process],
) -> Window:
    return Window(
        at=time.monotonic(),
        services=snapshot(services),
        infra=group_cpu(infra_groups(edge)),
        generator=snapshot(generator),
        machine=psutil.cpu_times(),
    )


def machine_shares(before: Any, after: Any) -> dict[str, float]:
    """Share of all the machine's cores busy / in steal over the window (/proc/stat deltas)."""
    fields = before._fields
    delta = {f: getattr(after, f) - getattr(before, f) for f in fields}
    # guest time is already counted in user (Linux), so leave it out of the total.
    total = sum(v for f, v in delta.items() if f not in {"guest", "guest_nice"}) or 1.0
    idle = delta.get("idle", 0.0) + delta.get("iowait", 0.0)
    steal = delta.get("steal", 0.0)
    return {
        "busy_share_of_all_cores": round((total - idle - steal) / total, 3),
        "busy_cores": round((total - idle - steal) / total * (psutil.cpu_count() or 1), 3),
        "steal_share": round(steal / total, 3),
        "iowait_share": round(delta.get("iowait", 0.0) / total, 3),
    }


# --- registration, rooms, history (the parent) ----------------------------------------------


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(60.0, max(1.0, float(response.headers.get("Retry-After", "5"))))
    except ValueError:
        return 5.0


async def _post(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], **kw: Any
) -> httpx.Response:
    """POST, waiting out 429 throttles (registration and login are limited per client address)."""
    for _ in range(30):
        response = await http.post(path, json=body, **kw)
        if response.status_code != 429:
            return response
        await asyncio.sleep(_retry_after(response))
    return response


async def register(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    password = f"load-{uuid.uuid4().hex}-generator"
    response = await _post(
        http, "/v1/auth/register", {"username": name, "display_name": name, "password": password}
    )
    response.raise_for_status()
    return {"username": name, "password": password}


async def ensure_users(http: httpx.AsyncClient, count: int, cache: Path) -> list[Client]:
    """Log in `count` users, registering what the cache lacks (each registration and login costs
    an argon2 hash, so a few at a time). Cached users the server no longer knows (a fresh
    database) are replaced."""
    known: list[dict[str, str]] = json.loads(cache.read_text()) if cache.exists() else []  # noqa: ASYNC240 - once, before any I/O
    run_tag = uuid.uuid4().hex[:6]
    semaphore = asyncio.Semaphore(4)
    serial = 0

    def save() -> None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known))

    async def fresh() -> dict[str, str]:
        nonlocal serial
        serial += 1
        name = f"bench_{run_tag}_{serial}"  # taken now: `serial` moves on while we wait
        async with semaphore:
            return await register(http, name)

    async def login(entry: dict[str, str]) -> Client | None:
        async with semaphore:
            response = await _post(
                http,
                "/v1/auth/login",
                {"username": entry["username"], "password": entry["password"]},
            )
        if response.status_code == 401:
            return None  # not in this database: replaced below
        response.raise_for_status()
        body = response.json()
        return Client(entry["username"], body["user"]["id"], body["access_token"])

    clients: list[Client] = []
    pending = known[:count]
    while len(clients) < count:
        missing = count - len(clients) - len(pending)
        if missing > 0:
            added = list(await asyncio.gather(*(fresh() for _ in range(missing))))
            known.extend(added)
            save()
            pending += added
            log(f"registered {len(added)} users")
        results = await asyncio.gather(*(login(e) for e in pending))
        stale = [e for e, c in zip(pending, results, strict=True) if c is None]
        if stale:
            known = [e for e in known if e not in stale]
            save()
            log(f"dropped {len(stale)} cached users unknown to the server")
        clients += [c for c in results if c is not None]
        pending = []
    return clients


def log(text: str) -> None:
    print(f"[load] {text}", file=sys.stderr, flush=True)


async def place_in_rooms(http: httpx.AsyncClient, clients: list[Client], rooms: int) -> None:
    size = len(clients) // rooms
    semaphore = asyncio.Semaphore(16)

    async def join(room_id: str, member: Client) -> None:
        async with semaphore:
            joined = await http.post(
                f"/v1/rooms/{room_id}/members",
                json={},
                headers={"Authorization": f"Bearer {member.token}"},
            )
        joined.raise_for_status()

    for index in range(rooms):
        members = clients[index * size : (index + 1) * size]
        owner = members[0]
        response = await http.post(
            "/v1/rooms",
            json={"name": f"bench-{uuid.uuid4().hex[:8]}", "visibility": "public"},
            headers={"Authorization": f"Bearer {owner.token}"},
        )
        response.raise_for_status()
        room_id = response.json()["room"]["id"]
        for member in members:
            member.room_id = room_id
        await asyncio.gather(*(join(room_id, m) for m in members if m is not owner))


async def persisted_client_ids(http: httpx.AsyncClient, clients: list[Client]) -> set[str]:
    """Every client_msg_id committed in the bench rooms (history, as a reconnecting client sees)."""
    owners: dict[str, Client] = {}
    for client in clients:
        owners.setdefault(client.room_id, client)
    found: set[str] = set()
    for room_id, owner in owners.items():
        after = 0
        while True:
            response = await http.get(
                f"/v1/rooms/{room_id}/messages",
                params={"after_seq": after, "limit": 200},
                headers={"Authorization": f"Bearer {owner.token}"},
            )
            response.raise_for_status()
            body = response.json()
            for message in body["messages"]:
                found.add(message["client_msg_id"])
                after = max(after, int(message["seq"]))
            if not body["has_more"] or not body["messages"]:
                break
    return found


# --- the workers ----------------------------------------------------------------------------

_TEXT = Opcode.TEXT


class Tally:
    """One worker's raw counts. Send times are perf_counter seconds (CLOCK_MONOTONIC)."""

    def __init__(self, seconds: int) -> None:
        self.start = 0.0
        # client_msg_id -> (send time, that send second's delivery-latency list)
        self.sent: dict[str, tuple[float, list[float]]] = {}
        self.acked: set[str] = set()
        self.ack_latency: list[float] = []
        self.ack_at: dict[str, float] = {}  # storm only: client_msg_id -> ack latency
        # Delivery latencies by the second of the run their message was sent in.
        self.by_second: list[list[float]] = [[] for _ in range(max(1, seconds))]
        self.delivered: set[tuple[str, str]] = set()  # (client_msg_id, receiving user)
        self.duplicated = 0
        self.expected = 0
        self.errors: dict[str, int] = {}
        # Mixed runs and the storm only (None in a plain run: its path is unchanged).
        self.mixed: MixedTally | None = None


class MixedTally:
    """What a mixed run or the storm counts beyond a plain run, per entry kind."""

    def __init__(self, mixer: Mixer, keep_entries: bool) -> None:
        self.mixer = mixer
        self.keep_entries = keep_entries
        self.ops: dict[str, tuple[Op, int]] = {}  # client_msg_id -> (what was sent, others)
        self.noops: set[str] = set()
        self.refused: dict[str, int] = {}  # "<kind>:<code>"
        self.ack_by_kind: dict[str, list[float]] = {}
        self.delivery_by_kind: dict[str, list[float]] = {}
        self.acked_ids: dict[str, str] = {}  # client_msg_id -> entry id (acked, not no-op)

    def on_new(self, conn: BenchConnection, message: dict[str, Any], data: Any, sent: Any) -> None:
        if self.keep_entries:
            conn.received.append(bytes(data))
        if sent is not None and message.get("kind", "text") == "text":
            self.mixer.saw_text(message, conn.arrived)

    def on_ack(self, tally: Tally, frame: dict[str, Any], cid: str, latency: float) -> None:
        got = self.ops.get(cid)
        if got is None:
            return
        op, others = got
        message = frame["message"]
        if frame.get("noop") or message.get("client_msg_id") != cid:
            self.noops.add(cid)
            tally.expected -= others
            self.mixer.refused(op)
            kind = f"{op.kind}_noop"
        else:
            kind = op.kind
            self.acked_ids[cid] = message["id"]
            if op.kind == "text":
                self.mixer.acked_text(op.actor, message["id"], tally.sent[cid][0])
        self.ack_by_kind.setdefault(kind, []).append(latency)

    def on_error(self, tally: Tally, frame: dict[str, Any]) -> None:
        got = self.ops.get(str(frame.get("ref")))
        if got is None:
            return
        op, others = got
        key = f"{op.kind}:{frame.get('code')}"
        self.refused[key] = self.refused.get(key, 0) + 1
        tally.expected -= others
        self.mixer.refused(op)


class BenchConnection(ClientConnection):
    """A client connection that tallies frames in the protocol callback: no receive queue, no
    reader task, one clock read per chunk of bytes (frames are stamped when they arrive, not
    when a task gets round to them).

    Once signed in (`start_tallying`), whole unfragmented text frames and pings are parsed here
    directly from the bytes (server frames are unmasked; a few integer operations each), which
    costs a fraction of websockets' general parser. At the first other frame (close, binary,
    fragment) the bytes from that frame on go back to websockets' parser, which is then at a
    frame boundary, and the connection stays on that path."""

    tally: Tally | None = None
    user_id = ""
    room_id = ""
    received: list[bytes]
    arrived = 0.0
    fast = False
    pending = b""

    def start_tallying(self, tally: Tally) -> None:
        self.tally = tally
        # Take the bytes over only while websockets' parser holds none (between frames).
        self.fast = not self.protocol.reader.buffer

    def stop_tallying(self) -> None:
        self.tally = None
        if self.fast:
            self.fast = False
            if self.pending:
                data, self.pending = self.pending, b""
                super().data_received(data)

    def data_received(self, data: bytes) -> None:
        self.arrived = time.perf_counter()
        if not self.fast:
            super().data_received(data)
            return
        buf = self.pending + data if self.pending else data
        end = len(buf)
        pos = 0
        while end - pos >= 2:
            first = buf[pos]
            length = buf[pos + 1]
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length > 126:  # 127 (64-bit length) or a masked frame: not ours to parse
                first = 0
            if first == 0x81:  # FIN + text
                if end - pos < head + length:
                    break
                self.on_text(buf[pos + head : pos + head + length])
                pos += head + length
            elif first == 0x89 and length <= 125:  # ping: answer as websockets would
                if end - pos < head + length:
                    break
                self.answer_ping(buf[pos + head : pos + head + length])
                pos += head + length
            else:
                self.fast = False
                self.pending = b""
                super().data_received(buf[pos:])
                return
        self.pending = buf[pos:] if pos < end else b""

    def answer_ping(self, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)

    def process_event(self, event: Any) -> None:
        if self.tally is None or not isinstance(event, Frame) or event.opcode is not _TEXT:
            super().process_event(event)  # handshake, auth exchange, control frames
            return
        self.on_text(event.data)

    def on_text(self, data: bytes | bytearray | memoryview) -> None:
        tally = self.tally
        assert tally is not None
        frame = orjson.loads(data)
        kind = frame["type"]
        mixed = tally.mixed
        if kind == "message.new":
            message = frame["message"]
            cid = message["client_msg_id"]
            sent = tally.sent.get(cid)
            if mixed is not None:
                mixed.on_new(self, message, data, sent)
            if sent is None or message["sender_id"] == self.user_id:
                return
            key = (cid, self.user_id)
            if key in tally.delivered:
                tally.duplicated += 1
            else:
                tally.delivered.add(key)
                latency = self.arrived - sent[0]
                sent[1].append(latency)
                if mixed is not None:
                    entry_kind = message.get("kind", "text")
                    mixed.delivery_by_kind.setdefault(entry_kind, []).append(latency)
        elif kind == "message.ack":
            cid = frame["client_msg_id"]
            sent = tally.sent.get(cid)
            if sent is not None and cid not in tally.acked:
                tally.acked.add(cid)
                tally.ack_latency.append(self.arrived - sent[0])
                if mixed is not None:
                    tally.ack_at[cid] = self.arrived - sent[0]
                    mixed.on_ack(tally, frame, cid, self.arrived - sent[0])
        elif kind == "error":
            code = str(frame.get("code"))
            tally.errors[code] = tally.errors.get(code, 0) + 1
            if mixed is not None:
                mixed.on_error(tally, frame)


async def connect(ws_url: str, client: Client) -> BenchConnection:
    # No client keepalive: under overload its 20 s ping timeout closed sockets mid-run (the
    # server pings anyway); a closed socket is counted, not fatal. No compression (it costs
    # CPU at both ends), no proxy lookup; frames bypass the receive queue once signed in.
    ws = await websockets.connect(
        ws_url,
        subprotocols=[Subprotocol("chat.v1")],
        max_size=2**20,
        max_queue=64,
        compression=None,
        ping_interval=None,
        proxy=None,
        user_agent_header=None,
        create_connection=BenchConnection,
    )
    assert isinstance(ws, BenchConnection)
    await ws.send(orjson.dumps({"type": "auth", "token": client.token}), text=True)
    while True:
        frame = orjson.loads(await ws.recv(decode=False))
        if frame["type"] == "ready":
            break
        if frame["type"] == "error":
            raise RuntimeError(f"auth failed for {client.username}: {frame}")
    ws.user_id = client.user_id
    ws.room_id = client.room_id
    ws.received = []
    return ws


async def send_load(
    clients: list[tuple[Client, BenchConnection, int]],
    tally: Tally,
    rate: float,
    duration: float,
) -> int:
    """Round-robin over the clients at `rate`, each message sent at its due time (the loop
    sleeps until the next one is due)."""
    interval = 1.0 / rate
    start = tally.start
    sent = 0
    by_second = tally.by_second
    last = len(by_second) - 1
    perf = time.perf_counter
    dumps = orjson.dumps
    while (elapsed := perf() - start) < duration:
        due = int(elapsed / interval) + 1
        while sent < due:
            client, ws, others = clients[sent % len(clients)]
            cid = str(uuid.uuid4())
            frame = {"type": "message.send", "client_msg_id": cid, "room_id": client.room_id}
            frame["text"] = f"bench {sent}"
            payload = dumps(frame)
            now = perf()
            tally.sent[cid] = (now, by_second[min(last, int(now - start))])
            try:
                await ws.send(payload, text=True)
            except websockets.ConnectionClosed:
                tally.errors["socket_closed"] = tally.errors.get("socket_closed", 0) + 1
                del tally.sent[cid]
            else:
                tally.expected += others
            sent += 1
        await asyncio.sleep(max(0.0, start + sent * interval - perf()))
    return sent


async def send_one(
    ws: BenchConnection, tally: Tally, frame: dict[str, Any], others: int, op: Op
) -> bool:
    """Send one frame of a mixed run or the storm, registered before it leaves."""
    assert tally.mixed is not None
    cid = frame["client_msg_id"]
    now = time.perf_counter()
    tally.sent[cid] = (now, tally.by_second[min(len(tally.by_second) - 1, int(now - tally.start))])
    tally.mixed.ops[cid] = (op, others)
    try:
        await ws.send(orjson.dumps(frame), text=True)
    except websockets.ConnectionClosed:
        tally.errors["socket_closed"] = tally.errors.get("socket_closed", 0) + 1
        del tally.sent[cid]
        return False
    tally.expected += others
    return True


async def send_mixed(
    actors: list[tuple[Actor, BenchConnection, int]],
    tally: Tally,
    rate: float,
    duration: float,
) -> int:
    """As send_load, each send's kind drawn by the mixer (text, reaction, edit or delete)."""
    assert tally.mixed is not None
    mixer = tally.mixed.mixer
    interval = 1.0 / rate
    start = tally.start
    sent = 0
    perf = time.perf_counter
    while (elapsed := perf() - start) < duration:
        due = int(elapsed / interval) + 1
        while sent < due:
            actor, ws, others = actors[sent % len(actors)]
            op = mixer.next_op(actor, sent, perf())
            frame = {"type": "message.send", "client_msg_id": str(uuid.uuid4())}
            frame["room_id"] = actor.room_id
            frame.update(op.frame)
            await send_one(ws, tally, frame, others, op)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent * interval - perf()))
    return sent


async def room_history(base_url: str, room_id: str, token: str) -> list[dict[str, Any]]:
    """Every entry of a room, as a reconnecting client catches up (after_seq pages)."""
    out: list[dict[str, Any]] = []
    after = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        while True:
            response = await http.get(
                f"/v1/rooms/{room_id}/messages",
                params={"after_seq": after, "limit": 200},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            body = response.json()
            out += body["messages"]
            for message in body["messages"]:
                after = max(after, int(message["seq"]))
            if not body["has_more"] or not body["messages"]:
                return out


async def verify_rooms(
    base_url: str,
    clients: list[Client],
    sockets: list[BenchConnection],
    run_ids: set[str],
) -> dict[str, Any]:
    """Apply every client's received entries (state_seq rule) and compare each text entry of
    this run with the room's history: every client must hold the server's state."""
    comparison = timeline.Comparison()
    rooms: dict[str, list[tuple[Client, BenchConnection]]] = {}
    for client, ws in zip(clients, sockets, strict=True):
        rooms.setdefault(client.room_id, []).append((client, ws))
    for room_id, members in rooms.items():
        history = await room_history(base_url, room_id, members[0][0].token)
        run = [m for m in history if m["client_msg_id"] in run_ids]
        texts = [m for m in run if m.get("kind", "text") == "text"]
        run_from = min((int(m["seq"]) for m in run), default=0)
        for client, ws in members:
            entries = [orjson.loads(raw)["message"] for raw in ws.received]
            ws.received = []
            live = [e for e in entries if e["room_id"] == room_id]
            view = timeline.client_view(history, run_from, live)
            comparison.add(view, texts, client.username)
    return comparison.report()


async def run_storm(
    spec: dict[str, Any],
    clients: list[Client],
    sockets: list[BenchConnection],
    tally: Tally,
) -> dict[str, Any]:
    """One message, then two waves of reactions to it, each spread over `storm_spread_s`."""
    mixed = tally.mixed
    assert mixed is not None
    rng = random.Random(spec["seed"])
    others = len(clients) - 1
    actors = [Actor(c.user_id, c.room_id) for c in clients]
    author, author_ws = actors[0], sockets[0]
    frame: dict[str, Any] = {"type": "message.send", "client_msg_id": str(uuid.uuid4())}
    frame.update({"room_id": author.room_id, "text": "react to this"})
    await send_one(author_ws, tally, frame, others, Op("text", {}, author))
    target_cid = frame["client_msg_id"]
    if not await wait_for(lambda: target_cid in mixed.acked_ids, 10.0):
        raise RuntimeError("the storm's target message was not acked within 10 s")
    target = mixed.acked_ids[target_cid]
    expect_all = len(clients) - 1
    await wait_for(lambda: sum(1 for k in tally.delivered if k[0] == target_cid) >= expect_all, 10)
    reactors = list(range(min(spec["storm_reactors"], len(clients))))
    weights = (50, 20, 10, 10, 10)
    first: dict[int, str] = {i: rng.choices(EMOJI[:5], weights)[0] for i in reactors}
    held: dict[int, set[str]] = {i: set() for i in reactors}
    waves: list[dict[str, Any]] = []
    expected_noops = 0
    for wave in (1, 2):
        plan: list[tuple[float, int, str, bool]] = []
        for i in reactors:
            offset = rng.uniform(0.0, spec["storm_spread_s"])
            if wave == 1:
                plan.append((offset, i, first[i], True))
                continue
            roll = rng.random()
            if roll < 0.4:
                plan.append((offset, i, first[i], False))  # take it back
            elif roll < 0.8:
                second = rng.choice([e for e in EMOJI[:5] if e != first[i]])
                plan.append((offset, i, second, True))  # a second emoji
            else:
                plan.append((offset, i, first[i], True))  # already there: a no-op
                expected_noops += 1
        plan.sort()
        began = time.perf_counter()
        cids: list[str] = []
        for offset, i, emoji, added in plan:
            await asyncio.sleep(max(0.0, began + offset - time.perf_counter()))
            frame = {"type": "message.send", "client_msg_id": str(uuid.uuid4())}
            frame.update({"room_id": actors[i].room_id, "kind": "reaction"})
            frame.update({"target_id": target, "emoji": emoji, "added": added})
            op = Op("reaction", {}, actors[i], (target, emoji), added)
            if await send_one(sockets[i], tally, frame, others, op):
                cids.append(frame["client_msg_id"])
            if added:
                held[i].add(emoji)
            else:
                held[i].discard(emoji)
        spread = time.perf_counter() - began
        await wait_for(partial(acked_all, tally, list(cids)), 15.0)
        waves.append(
            {
                "wave": wave,
                "sends": len(plan),
                "adds": sum(1 for p in plan if p[3]),
                "removes": sum(1 for p in plan if not p[3]),
                "spread_s": round(spread, 3),
                "acked": sum(1 for c in cids if c in tally.acked),
                "ack_ms": summary([tally.ack_at[c] for c in cids if c in tally.ack_at]),
            }
        )
        await asyncio.sleep(0.5)
    counts: dict[str, int] = {}
    for emojis in held.values():
        for emoji in emojis:
            counts[emoji] = counts.get(emoji, 0) + 1
    return {
        "target_id": target,
        "reactors": len(reactors),
        "observers": len(clients) - len(reactors),
        "waves": waves,
        "expected_noops": expected_noops,
        "expected_counts": dict(sorted(counts.items())),
    }


async def storm_counts(base_url: str, client: Client, storm: dict[str, Any]) -> dict[str, int]:
    """The storm target's reaction counts in history."""
    for message in await room_history(base_url, client.room_id, client.token):
        if message["id"] == storm["target_id"]:
            reactions = message.get("reactions") or []
            return dict(sorted((str(r["emoji"]), int(r["count"])) for r in reactions))
    return {}


def everything_in(tally: Tally, mixed: MixedTally) -> bool:
    """Every send answered (ack, no-op or refusal) and every expected delivery received."""
    answered = len(tally.acked) + sum(mixed.refused.values())
    return answered >= len(tally.sent) and len(tally.delivered) >= tally.expected


def acked_all(tally: Tally, cids: list[str]) -> bool:
    return all(c in tally.acked for c in cids)


async def wait_for(check: Any, limit_s: float) -> bool:
    """Poll `check` every 10 ms for up to `limit_s` seconds; whether it came true."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def _recv_on(pipe: Pipe) -> Any:
    """Await the next object on a multiprocessing pipe without blocking the event loop."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = pipe.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    # The loop made the descriptor non-blocking; a message (a worker's result) may arrive in
    # several chunks, so read it blocking: it is on its way.
    os.set_blocking(fd, True)
    return pipe.recv()


async def run_worker(spec: dict[str, Any], pipe: Pipe) -> None:
    clients = [Client(**c) for c in spec["clients"]]
    members: dict[str, int] = {}
    for client in clients:
        members[client.room_id] = members.get(client.room_id, 0) + 1
    tally = Tally(math.ceil(spec["duration"]))
    scenario = spec.get("scenario", "load")
    shares = spec.get("mix") or {"text": 1.0}
    if scenario == "storm" or shares.get("text", 0.0) < 1.0:
        tally.mixed = MixedTally(Mixer(shares, spec["seed"]), keep_entries=spec["verify"])
    sockets: list[BenchConnection] = []
    for first in range(0, len(clients), 50):
        batch = clients[first : first + 50]
        sockets += await asyncio.gather(*(connect(spec["ws_url"], c) for c in batch))
    for ws in sockets:
        ws.start_tallying(tally)
    pipe.send(("ready", len(sockets)))
    kind, start_at = await _recv_on(pipe)
    assert kind == "start"
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    # perf_counter and monotonic are the same clock on Linux; keep to one for latencies.
    tally.start = time.perf_counter()
    storm: dict[str, Any] | None = None
    if scenario == "storm":
        storm = await run_storm(spec, clients, sockets, tally)
        sent = len(tally.sent)
        await asyncio.sleep(spec["drain"])
        pipe.send(("done", None))
    elif tally.mixed is not None:
        actors = [
            (Actor(c.user_id, c.room_id), ws, members[c.room_id] - 1)
            for c, ws in zip(clients, sockets, strict=True)
        ]
        sent = await send_mixed(actors, tally, spec["rate"], spec["duration"])
    else:
        rotation = [(c, ws, members[c.room_id] - 1) for c, ws in zip(clients, sockets, strict=True)]
        sent = await send_load(rotation, tally, spec["rate"], spec["duration"])
    kind, _ = await _recv_on(pipe)  # the parent says when the drain is over
    assert kind == "report"
    closed = sum(1 for ws in sockets if ws.close_code is not None)
    mixed = tally.mixed
    if mixed is None or not spec["verify"]:
        for ws in sockets:
            ws.stop_tallying()
    # The figures as they stand at the end of the drain (copies: frames may still come in).
    result: Result = {
        **(mixed_result(tally, mixed) if mixed is not None else {}),
        "storm": storm,
        "sent": sent,
        "sent_ids": list(tally.sent),
        "acked_ids": list(tally.acked),
        "ack_latency": list(tally.ack_latency),
        "delivery_by_second": [list(values) for values in tally.by_second],
        "delivered": len(tally.delivered),
        "duplicated": tally.duplicated,
        "expected": tally.expected,
        "errors": dict(tally.errors),
        "sockets_closed_early": closed,
    }
    if mixed is not None and spec["verify"]:
        # Let what is still on its way arrive (a run that fell behind), then compare.
        began = time.monotonic()
        settled = await wait_for(partial(everything_in, tally, mixed), spec["settle_s"])
        for ws in sockets:
            ws.stop_tallying()
        run_ids = set(tally.sent)
        verify = await verify_rooms(spec["base_url"], clients, sockets, run_ids)
        verify["settled"] = settled
        verify["settle_s"] = round(time.monotonic() - began, 1)
        result["verify"] = verify
    if storm is not None:
        storm["server_counts"] = await storm_counts(spec["base_url"], clients[0], storm)
        storm["server_counts_as_expected"] = storm["server_counts"] == storm["expected_counts"]
    pipe.send(("result", result))
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def mixed_result(tally: Tally, mixed: MixedTally) -> Result:
    """A worker's per-kind figures (raw latencies: the parent merges them)."""
    mixer = mixed.mixer
    sent_by_kind: dict[str, int] = {}
    for op, _ in mixed.ops.values():
        sent_by_kind[op.kind] = sent_by_kind.get(op.kind, 0) + 1
    acked_by_kind: dict[str, int] = {}
    for cid in mixed.acked_ids:
        kind = mixed.ops[cid][0].kind
        acked_by_kind[kind] = acked_by_kind.get(kind, 0) + 1
    return {
        "sent_by_kind": sent_by_kind,
        "acked_by_kind": acked_by_kind,
        "noop_ids": list(mixed.noops),
        "refused": dict(mixed.refused),
        "reaction_removes": mixer.reaction_removes,
        "owed_at_end": {k: v for k, v in mixer.owed.items() if v},
        "ack_by_kind": {k: list(v) for k, v in mixed.ack_by_kind.items()},
        "delivery_by_kind": {k: list(v) for k, v in mixed.delivery_by_kind.items()},
    }


def worker_main(spec: dict[str, Any], pipe: Pipe) -> None:
    """Entry point of a worker process (spawned: a fresh interpreter, nothing inherited)."""
    try:
        uvloop.run(run_worker(spec, pipe))
    except BaseException:
        pipe.send(("error", traceback.format_exc()))
        raise


def split_rooms(clients: list[Client], workers: int) -> list[list[Client]]:
    """Whole rooms per worker, largest first onto the least loaded worker."""
    rooms: dict[str, list[Client]] = {}
    for client in clients:
        rooms.setdefault(client.room_id, []).append(client)
    shares: list[list[Client]] = [[] for _ in range(workers)]
    for members in sorted(rooms.values(), key=len, reverse=True):
        min(shares, key=len).extend(members)
    return [share for share in shares if share]


# --- the parent -----------------------------------------------------------------------------


def commit_id() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def _gather_from(pipes: list[Pipe], kind: str) -> list[Any]:
    """One `kind` message from every worker; a worker's failure ends the run with its trace."""
    out = []
    for got in await asyncio.gather(*(_recv_on(p) for p in pipes)):
        if got[0] == "error":
            raise RuntimeError(f"load worker failed:\n{got[1]}")
        assert got[0] == kind, got
        out.append(got[1])
    return out


def cpu_report(first: Window, last: Window, wall: float) -> dict[str, Any]:
    def share(seconds: float) -> float:
        return round(seconds / wall, 3)

    services = {
        name: last.services[name]["cpu_s"] - first.services[name]["cpu_s"]
        for name in last.services
        if name in first.services
    }
    infra = {
        name: group_delta(first.infra.get(name, {}), pids) for name, pids in last.infra.items()
    }
    generator = {
        name: last.generator[name]["cpu_s"] - first.generator[name]["cpu_s"]
        for name in last.generator
        if name in first.generator
    }
    total = sum(services.values()) + sum(infra.values()) + sum(generator.values())
    return {
        "window_s": round(wall, 2),
        "service_cpu_s": {name: round(v, 2) for name, v in services.items()},
        "service_cpu_share_of_one_core": {name: share(v) for name, v in services.items()},
        "service_rss_mb": {name: round(v["rss_mb"], 1) for name, v in last.services.items()},
        "infra_cpu_s": {name: round(v, 2) for name, v in infra.items()},
        "infra_cpu_share_of_one_core": {name: share(v) for name, v in infra.items()},
        "infra_processes": {name: len(pids) for name, pids in last.infra.items()},
        # The generator shares the machine: when it is busy, latencies include its own queueing.
        "load_generator_cpu_s": round(sum(generator.values()), 2),
        "load_generator_cpu_share_of_one_core": share(sum(generator.values())),
        "load_generator_cpu_s_by_process": {name: round(v, 2) for name, v in generator.items()},
        "total_cpu_s": round(total, 2),
        "total_cpu_share": share(total),
        "machine": machine_shares(first.machine, last.machine),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    base = args.base_url.rstrip("/")
    ws_url = base.replace("http", "ws", 1) + "/v1/ws"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        clients = await ensure_users(http, args.clients, Path(args.user_cache))
        log(f"{len(clients)} users signed in")
        await place_in_rooms(http, clients, args.rooms)
        log(f"{args.rooms} rooms ready")

    shares = split_rooms(clients, 1 if args.scenario == "storm" else max(1, args.workers))
    context = multiprocessing.get_context("spawn")
    pipes: list[Pipe] = []
    workers: list[Any] = []
    for share in shares:
        parent_end, child_end = context.Pipe()
        spec = {
            "ws_url": ws_url,
            "clients": [vars(c) for c in share],
            # The same rate per client everywhere: rate/N when the rooms split evenly.
            "rate": args.rate * len(share) / len(clients),
            "duration": args.duration,
            "drain": args.drain,
            "scenario": args.scenario,
            "mix": parse_mix(args.mix),
            "seed": args.seed + len(pipes),
            "verify": verify_wanted(args),
            "settle_s": args.settle,
            "base_url": base,
            "storm_reactors": args.storm_reactors,
            "storm_spread_s": args.storm_spread_s,
        }
        process = context.Process(target=worker_main, args=(spec, child_end), daemon=True)
        process.start()
        child_end.close()
        pipes.append(parent_end)
        workers.append(process)
    try:
        return await drive(args, clients, shares, pipes, workers)
    finally:
        for process in workers:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


async def drive(
    args: argparse.Namespace,
    clients: list[Client],
    shares: list[list[Client]],
    pipes: list[Pipe],
    workers: list[Any],
) -> dict[str, Any]:
    base = args.base_url.rstrip("/")
    opened = await _gather_from(pipes, "ready")
    log(f"{sum(opened)} sockets ready in {len(workers)} workers; sending")

    ports = dict(zip(SERVICE_PORTS, map(int, args.service_ports.split(",")), strict=True))
    services = service_processes(ports)
    edge = edge_root(httpx.URL(base).port or 80)
    generator = {"parent": psutil.Process()}
    generator.update({f"worker{i}": psutil.Process(p.pid) for i, p in enumerate(workers)})
    start_at = time.monotonic() + 0.5
    for pipe in pipes:
        pipe.send(("start", start_at))
    # The window opens just before the start (a snapshot takes some tens of ms).
    await asyncio.sleep(max(0.0, start_at - time.monotonic() - 0.1))
    first = take_window(services, edge, generator)
    if args.scenario == "storm":
        await _gather_from(pipes, "done")  # the storm's waves and drain are over
    else:
        await asyncio.sleep(max(0.0, start_at + args.duration + args.drain - time.monotonic()))
    last = take_window(services, edge, generator)
    for pipe in pipes:
        pipe.send(("report", None))
    results: list[Result] = await _gather_from(pipes, "result")
    wall = last.at - first.at

    sent = sum(r["sent"] for r in results)
    sent_ids = {cid for r in results for cid in r["sent_ids"]}
    acked_ids = {cid for r in results for cid in r["acked_ids"]}
    expected = sum(r["expected"] for r in results)
    received = sum(r["delivered"] for r in results)
    duplicated = sum(r["duplicated"] for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for code, n in r["errors"].items():
            errors[code] = errors.get(code, 0) + n
    ack_latency = [v for r in results for v in r["ack_latency"]]
    seconds = max(len(r["delivery_by_second"]) for r in results)
    by_second: list[list[float]] = [[] for _ in range(seconds)]
    for r in results:
        for index, values in enumerate(r["delivery_by_second"]):
            by_second[index] += values
    delivery_latency = [v for values in by_second for v in values]

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        persisted = await persisted_client_ids(http, clients)
    cpu = cpu_report(first, last, wall)
    machine = cpu.pop("machine")
    mixed: dict[str, Any] = {}
    if "sent_by_kind" in results[0]:
        mixed = merge_mixed(args, results)
        noops = set(mixed.pop("noop_ids"))
        acked_ids -= noops  # a no-op is acked but makes no entry
        sent_ids -= noops
        mixed["noops"] = len(noops)
    return {
        "commit": commit_id(),
        "note": args.note,
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            **machine,
        },
        "clients": len(clients),
        "rooms": args.rooms,
        "target_rate": args.rate,
        "duration_s": args.duration,
        "workers": len(shares),
        "clients_by_worker": [len(s) for s in shares],
        "sent": sent,
        "sent_by_worker": [r["sent"] for r in results],
        "acked": len(acked_ids),
        "unacked": sent - len(acked_ids),
        "deliveries_expected": expected,
        "deliveries_received": received,
        "lost": expected - received,
        "acked_not_persisted": len(acked_ids - persisted),
        "sent_not_persisted": len(sent_ids - persisted),
        "duplicated": duplicated,
        "errors": errors,
        "sockets_closed_early": sum(r["sockets_closed_early"] for r in results),
        "ack_ms": summary(ack_latency),
        "delivery_ms": summary(delivery_latency, mean=True),
        # p99 of the deliveries of the messages sent in each second of the run.
        "delivery_p99_by_second": [percentile(values, 99) for values in by_second],
        **cpu,
        "load_generator_cpu_ms_per_sent": round(cpu["load_generator_cpu_s"] * 1000 / sent, 3)
        if sent
        else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        **mixed,
    }


def verify_wanted(args: argparse.Namespace) -> bool:
    if args.verify is not None:
        return bool(args.verify)
    return args.scenario == "storm" or parse_mix(args.mix)["text"] < 1.0


def merge_mixed(args: argparse.Namespace, results: list[Result]) -> dict[str, Any]:
    """The workers' per-kind figures together."""

    def add(key: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in results:
            for name, n in r[key].items():
                out[name] = out.get(name, 0) + n
        return dict(sorted(out.items()))

    def latencies(key: str) -> dict[str, Any]:
        merged: dict[str, list[float]] = {}
        for r in results:
            for name, values in r[key].items():
                merged.setdefault(name, []).extend(values)
        return {name: summary(values) for name, values in sorted(merged.items())}

    out: dict[str, Any] = {
        "scenario": args.scenario,
        "mix_requested": parse_mix(args.mix) if args.scenario == "load" else None,
        "sent_by_kind": add("sent_by_kind"),
        "acked_by_kind": add("acked_by_kind"),
        "noop_ids": [cid for r in results for cid in r["noop_ids"]],
        "refused": add("refused"),
        "reaction_removes": sum(r["reaction_removes"] for r in results),
        "owed_at_end": add("owed_at_end"),
        "ack_ms_by_kind": latencies("ack_by_kind"),
        "delivery_ms_by_kind": latencies("delivery_by_kind"),
    }
    verified = [r["verify"] for r in results if r.get("verify")]
    if verified:
        comparison = timeline.Comparison()
        for report in verified:
            comparison.merge(report)
        out["verify"] = comparison.report()
        # Whether everything sent was answered and delivered before the comparison, and when.
        out["verify"]["settled"] = all(report.get("settled", True) for report in verified)
        out["verify"]["settle_s"] = max(report.get("settle_s", 0.0) for report in verified)
    storms = [r["storm"] for r in results if r.get("storm")]
    if storms:
        out["storm"] = storms[0]
    for r in results:
        for key in ("sent_by_kind", "acked_by_kind", "noop_ids", "refused", "reaction_removes"):
            r.pop(key, None)
        for key in ("owed_at_end", "ack_by_kind", "delivery_by_kind", "verify", "storm"):
            r.pop(key, None)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument(
        "--rate", type=float, default=500.0, help="messages per second, all clients together"
    )
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait for late frames")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="sending/receiving processes; each gets whole rooms and its share of --rate",
    )
    parser.add_argument(
        "--service-ports",
        default="8001,8002,8003,8004",
        help="auth,gateway,message,presence ports (whose processes' CPU and RSS are measured)",
    )
    parser.add_argument("--user-cache", default="bench/results/.users.json")
    parser.add_argument(
        "--mix",
        default="text=100",
        help="shares of the sends by kind, e.g. text=70,reaction=15,edit=10,delete=5 (issue #14)",
    )
    parser.add_argument(
        "--scenario",
        choices=("load", "storm"),
        default="load",
        help="load: --rate for --duration; storm: 50 users react to one message in 1 s, twice",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=120.0,
        help="verify: seconds to wait after the drain for every answer and delivery",
    )
    parser.add_argument("--note", default="", help="free text kept in the result (what differs)")
    parser.add_argument("--storm-reactors", type=int, default=50)
    parser.add_argument("--storm-spread-s", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="apply each client's entries (state_seq rule) and compare with history "
        "(default: on for a mix or the storm)",
    )
    parser.add_argument("--output", default="")
    arguments = parser.parse_args()
    host = httpx.URL(arguments.base_url).host
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("bench/load.py only targets this machine (loopback)")
    result = uvloop.run(main(arguments))
    text = json.dumps(result, indent=2)
    output = arguments.output or f"bench/results/messaging-{time.strftime('%Y%m%dT%H%M%S')}.json"
    Path(output).write_text(text + "\n")
    print(text)
