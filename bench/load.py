"""Messaging load generator: real users, real sockets, through the edge.

Registers users (or reuses those in a cache file), puts them in rooms, opens one WebSocket per
client, sends at a fixed rate for a fixed time and measures, from the clients' point of view:
ack latency (send -> message.ack), delivery latency (send -> message.new at every other member),
lost and duplicated deliveries, and the CPU seconds and RSS of every service process.

The run is bounded: it stops after --duration seconds plus a drain period and talks only to the
URL it is given (loopback by default).

    .venv/bin/python bench/load.py --clients 1000 --rooms 50 --rate 500 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

SERVICE_PORTS = {"auth": 8001, "gateway": 8002, "message": 8003, "presence": 8004}


@dataclass
class Client:
    username: str
    user_id: str
    token: str
    room_id: str = ""
    ws: ClientConnection | None = None
    acked: dict[str, float] = field(default_factory=dict)


@dataclass
class Tally:
    sent_at: dict[str, float] = field(default_factory=dict)
    room_of: dict[str, str] = field(default_factory=dict)
    ack_latency: list[float] = field(default_factory=list)
    delivery_latency: list[float] = field(default_factory=list)
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)  # (client_msg_id, user)
    errors: dict[str, int] = field(default_factory=dict)
    readers: set[asyncio.Task[None]] = field(default_factory=set)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index] * 1000, 2)


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


async def connect(ws_url: str, client: Client, tally: Tally) -> None:
    # No client keepalive: under overload its 20 s ping timeout closed sockets mid-run (the
    # server pings anyway); a closed socket is counted, not fatal.
    ws = await websockets.connect(
        ws_url,
        subprotocols=[Subprotocol("chat.v1")],
        max_size=2**20,
        ping_interval=None,
    )
    await ws.send(json.dumps({"type": "auth", "token": client.token}))
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "ready":
            break
        if frame["type"] == "error":
            raise RuntimeError(f"auth failed for {client.username}: {frame}")
    client.ws = ws
    # Keep a reference: the event loop holds tasks only weakly.
    tally.readers.add(asyncio.create_task(read_frames(client, tally)))


async def read_frames(client: Client, tally: Tally) -> None:
    assert client.ws is not None
    try:
        async for raw in client.ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "message.ack":
                cid = frame["client_msg_id"]
                if cid not in client.acked and cid in tally.sent_at:
                    client.acked[cid] = now
                    tally.ack_latency.append(now - tally.sent_at[cid])
            elif kind == "message.new":
                message = frame["message"]
                cid = message["client_msg_id"]
                if message["sender_id"] == client.user_id or cid not in tally.sent_at:
                    continue
                key = (cid, client.user_id)
                seen = tally.deliveries.get(key, 0)
                tally.deliveries[key] = seen + 1
                if seen == 0:
                    tally.delivery_latency.append(now - tally.sent_at[cid])
            elif kind == "error":
                code = str(frame.get("code"))
                tally.errors[code] = tally.errors.get(code, 0) + 1
    except websockets.ConnectionClosed:
        return


async def send_load(clients: list[Client], tally: Tally, rate: float, duration: float) -> int:
    interval = 1.0 / rate
    start = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - start) < duration:
        due = int(elapsed / interval) + 1
        while sent < due:
            client = clients[sent % len(clients)]
            cid = str(uuid.uuid4())
            tally.sent_at[cid] = time.perf_counter()
            tally.room_of[cid] = client.room_id
            assert client.ws is not None
            frame = {"type": "message.send", "client_msg_id": cid, "room_id": client.room_id}
            frame["text"] = f"bench {sent}"
            try:
                await client.ws.send(json.dumps(frame))
            except websockets.ConnectionClosed:
                tally.errors["socket_closed"] = tally.errors.get("socket_closed", 0) + 1
                del tally.sent_at[cid]
            sent += 1
        await asyncio.sleep(interval / 2)
    return sent


def commit_id() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    base = args.base_url.rstrip("/")
    ws_url = base.replace("http", "ws", 1) + "/v1/ws"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        clients = await ensure_users(http, args.clients, Path(args.user_cache))
        log(f"{len(clients)} users signed in")
        await place_in_rooms(http, clients, args.rooms)
        log(f"{args.rooms} rooms ready")
    tally = Tally()
    for start in range(0, len(clients), 50):
        await asyncio.gather(*(connect(ws_url, c, tally) for c in clients[start : start + 50]))
    log(f"{len(clients)} sockets ready; sending")
    ports = dict(zip(SERVICE_PORTS, map(int, args.service_ports.split(",")), strict=True))
    procs = service_processes(ports)
    before = snapshot(procs)
    began = time.perf_counter()
    client_cpu0 = time.process_time()
    sent = await send_load(clients, tally, args.rate, args.duration)
    await asyncio.sleep(args.drain)
    wall = time.perf_counter() - began
    client_cpu = time.process_time() - client_cpu0
    after = snapshot(procs)
    members_per_room: dict[str, int] = {}
    for client in clients:
        members_per_room[client.room_id] = members_per_room.get(client.room_id, 0) + 1
    expected = sum(members_per_room[tally.room_of[c]] - 1 for c in tally.sent_at)
    received = sum(1 for n in tally.deliveries.values() if n >= 1)
    duplicated = sum(n - 1 for n in tally.deliveries.values() if n > 1)
    acked_ids = {cid for c in clients for cid in c.acked}
    acked = len(acked_ids)
    for client in clients:
        if client.ws is not None:
            await client.ws.close()
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        persisted = await persisted_client_ids(http, clients)
    return {
        "commit": commit_id(),
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        },
        "clients": len(clients),
        "rooms": args.rooms,
        "target_rate": args.rate,
        "duration_s": args.duration,
        "sent": sent,
        "acked": acked,
        "unacked": sent - acked,
        "deliveries_expected": expected,
        "deliveries_received": received,
        "lost": expected - received,
        "acked_not_persisted": len(acked_ids - persisted),
        "sent_not_persisted": len(set(tally.sent_at) - persisted),
        "duplicated": duplicated,
        "errors": tally.errors,
        "ack_ms": {
            "p50": percentile(tally.ack_latency, 50),
            "p99": percentile(tally.ack_latency, 99),
        },
        "delivery_ms": {
            "p50": percentile(tally.delivery_latency, 50),
            "p99": percentile(tally.delivery_latency, 99),
            "mean": round(statistics.fmean(tally.delivery_latency) * 1000, 2)
            if tally.delivery_latency
            else None,
        },
        "service_cpu_s": {
            name: round(after[name]["cpu_s"] - before[name]["cpu_s"], 2)
            for name in after
            if name in before
        },
        "service_cpu_share_of_one_core": {
            name: round((after[name]["cpu_s"] - before[name]["cpu_s"]) / wall, 3)
            for name in after
            if name in before
        },
        "service_rss_mb": {name: round(v["rss_mb"], 1) for name, v in after.items()},
        # The generator shares the machine: when it is busy, latencies include its own queueing.
        "load_generator_cpu_s": round(client_cpu, 2),
        "load_generator_cpu_share_of_one_core": round(client_cpu / wall, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


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
        "--service-ports",
        default="8001,8002,8003,8004",
        help="auth,gateway,message,presence ports (whose processes' CPU and RSS are measured)",
    )
    parser.add_argument("--user-cache", default="bench/results/.users.json")
    parser.add_argument("--output", default="")
    arguments = parser.parse_args()
    host = httpx.URL(arguments.base_url).host
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("bench/load.py only targets this machine (loopback)")
    result = asyncio.run(main(arguments))
    text = json.dumps(result, indent=2)
    output = arguments.output or f"bench/results/messaging-{time.strftime('%Y%m%dT%H%M%S')}.json"
    Path(output).write_text(text + "\n")
    print(text)
