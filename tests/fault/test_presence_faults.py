"""Presence under real process faults (api-v1 §5, §7; QA-003).

- kill -9 a gateway: its users go offline by themselves within 35 s (the gateway's heartbeats
  stop); users on the surviving gateway are never announced offline.
- two presence-service replicas, kill -9 the one holding the advisory lock: the other takes over
  and a later transition is announced exactly once.
- RabbitMQ restarted while users are connected: a broker outage is not a gateway death, so no
  connected user is announced offline and the snapshot still says online afterwards.

Observed with public sockets (`presence.subscribe` → `presence` frames), the public
`GET /v1/presence`, and test queues bound to `presence.changed.v1` on the private broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
import orjson
import pytest
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage
from chat_devtools.processes import ManagedProcess
from chatclient import ChatApi, User
from faultkit import FaultStack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

pytestmark = [pytest.mark.fault, pytest.mark.timeout(150)]
log = logging.getLogger("fault")

SUBPROTOCOL = Subprotocol("chat.v1")
EVENTS = "chat.events"
CHANGED = "presence.changed.v1"
HEARTBEAT = "presence.gateway.heartbeat.v1"
# api-v1 §5: offline within 35 s when the gateway holding the socket dies without a word.
GATEWAY_DEATH_S = 35.0
# api-v1 §7: a gateway silent for 30 s is dead; the broker stays down longer than that.
BROKER_OUTAGE_S = 31.0
# The brief's manual-run range; the extra presence replica listens here.
EXTRA_PORTS = (28900, 28999)


# --- observers ---------------------------------------------------------------------------------


class Observed:
    """Items seen so far, and a way to await one that matches (no sleeping)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._cond = asyncio.Condition()

    async def add(self, item: dict[str, Any]) -> None:
        async with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    async def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        async def found() -> dict[str, Any]:
            async with self._cond:
                while True:
                    for item in self.items:
                        if pred(item):
                            return item
                    await self._cond.wait()

        try:
            return await asyncio.wait_for(found(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"not seen within {timeout:.0f}s: {what}; last seen: {self.items[-5:]}"
            ) from None


class PresenceSocket(Observed):
    """A raw `chat.v1` socket that never reconnects: a user's only tab, exactly where we put it."""

    def __init__(self, url: str, user: User) -> None:
        super().__init__()
        self.url = url
        self.user = user
        self.ws: ClientConnection | None = None
        self.closed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.ws = await connect(self.url, subprotocols=[SUBPROTOCOL], open_timeout=10)
        await self.ws.send(orjson.dumps({"type": "auth", "token": self.user.token}).decode())
        first = orjson.loads(await asyncio.wait_for(self.ws.recv(), 15))
        assert first.get("type") == "ready", f"{self.user.username}: {first}"
        self._reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                await self.add(orjson.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def subscribe(self, user_ids: list[str]) -> None:
        """Subscribe, then ping: frames of one socket are handled in order, so the `pong` says
        the subscription is in place."""
        assert self.ws is not None
        marker = len(self.items)
        frame = {"type": "presence.subscribe", "user_ids": user_ids}
        await self.ws.send(orjson.dumps(frame).decode())
        await self.ws.send(orjson.dumps({"type": "ping"}).decode())
        await self.wait_for(
            lambda _: any(f.get("type") == "pong" for f in self.items[marker:]), 10, "pong"
        )
        errors = [f for f in self.items[marker:] if f.get("type") == "error"]
        assert errors == [], errors

    def statuses(self, user_id: str) -> list[str]:
        return [
            str(f["status"])
            for f in self.items
            if f.get("type") == "presence" and f.get("user_id") == user_id
        ]

    async def wait_status(self, user_id: str, status: str, timeout: float) -> None:
        await self.wait_for(
            lambda f: (
                f.get("type") == "presence"
                and f.get("user_id") == user_id
                and f.get("status") == status
            ),
            timeout,
            f"presence {status} of {user_id} at {self.user.username}",
        )

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 3)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


class BusTap(Observed):
    """A test queue on the private broker bound to `presence.changed.v1` (and, to await a
    heartbeat round, `presence.gateway.heartbeat.v1`). Items carry the AMQP type and message_id.

    `durable=True` makes a classic durable queue (with an expiry, in case a run dies) whose
    persistent messages survive a graceful broker restart: nothing published around the outage
    is missed. Otherwise an exclusive auto-delete queue."""

    def __init__(self, url: str, *, durable: bool = False, name: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.durable = durable
        self.name = name or f"fault-presence-tap.{uuid.uuid4().hex[:12]}"
        self.connection: AbstractConnection | None = None
        self._ids: set[str] = set()

    async def start(self) -> None:
        # Not robust on purpose: a broker restart ends this link, `start` again afterwards.
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        queue = await channel.declare_queue(
            self.name,
            durable=self.durable,
            exclusive=not self.durable,
            auto_delete=not self.durable,
            arguments={"x-expires": 300_000} if self.durable else None,
        )
        await queue.bind(EVENTS, CHANGED)
        await queue.bind(EVENTS, HEARTBEAT)
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # A message redelivered to us after our own reconnect is the same publish: count it once.
        message_id = str(message.message_id)
        if message_id in self._ids:
            return
        self._ids.add(message_id)
        await self.add({"type": message.type, "body": orjson.loads(message.body)})

    async def stop(self, *, delete: bool = False) -> None:
        if self.connection is None:
            return
        with contextlib.suppress(Exception):
            if delete and not self.connection.is_closed:
                channel = await self.connection.channel()
                await channel.queue_delete(self.name)
            await asyncio.wait_for(self.connection.close(), 5)
        self.connection = None

    def changes(self, user_id: str) -> list[str]:
        return [
            str(i["body"]["status"])
            for i in self.items
            if i["type"] == CHANGED and i["body"]["user_id"] == user_id
        ]

    async def wait_change(self, user_id: str, status: str, timeout: float) -> None:
        await self.wait_for(
            lambda i: (
                i["type"] == CHANGED
                and i["body"]["user_id"] == user_id
                and i["body"]["status"] == status
            ),
            timeout,
            f"{CHANGED} {status} of {user_id}",
        )

    async def wait_heartbeat_listing(self, user_ids: set[str], timeout: float) -> None:
        """Until heartbeats (from any gateways) have listed every one of `user_ids`, starting
        from now: presence-service has then heard a full round about them."""
        marker = len(self.items)

        def listed_all(_: dict[str, Any]) -> bool:
            seen = {
                str(c["user_id"])
                for i in self.items[marker:]
                if i["type"] == HEARTBEAT
                for c in i["body"]["connections"]
            }
            return user_ids <= seen

        await self.wait_for(listed_all, timeout, f"heartbeats listing {sorted(user_ids)}")


# --- helpers -----------------------------------------------------------------------------------


@dataclass
class Scene:
    fs: FaultStack
    http: httpx.AsyncClient
    api: ChatApi
    sockets: list[PresenceSocket] = field(default_factory=list)

    async def users(self, count: int) -> list[User]:
        return list(await asyncio.gather(*(self.api.register("pres") for _ in range(count))))

    async def socket(self, gateway: str, user: User) -> PresenceSocket:
        sock = PresenceSocket(self.fs.ws_url(gateway), user)
        self.sockets.append(sock)
        await sock.open()
        return sock

    async def presence(
        self, viewer: User, user_ids: list[str], base_url: str | None = None
    ) -> dict[str, str]:
        base = base_url or self.fs.stack.url("presence")
        r = await self.http.get(
            f"{base}/v1/presence",
            params={"user_ids": ",".join(user_ids)},
            headers={"Authorization": f"Bearer {viewer.token}"},
        )
        assert r.status_code == 200, r.text
        return {str(p["user_id"]): str(p["status"]) for p in r.json()["users"]}

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)


@pytest.fixture
async def presence_scene(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient
) -> AsyncIterator[Scene]:
    api = ChatApi(fault_stack.auth_url, fault_stack.message_urls, fault_http)
    scene = Scene(fault_stack, fault_http, api)
    try:
        yield scene
    finally:
        await scene.close()


def free_extra_port() -> int:
    for port in range(*EXTRA_PORTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {EXTRA_PORTS}")


async def is_leader(http: httpx.AsyncClient, base_url: str) -> bool:
    """presence-service exports `presence_is_leader` (1 while holding the advisory lock)."""
    r = await http.get(f"{base_url}/metrics")
    assert r.status_code == 200, r.text
    for line in r.text.splitlines():
        if line.startswith("presence_is_leader "):
            return float(line.split()[1]) == 1.0
    raise AssertionError(f"{base_url}/metrics has no presence_is_leader")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll an async check (HTTP state is not pushed to us) until it returns True."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = await check()
            if last:
                return
        except (httpx.HTTPError, AssertionError) as exc:
            last = repr(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not true within {timeout:.0f}s (last: {last})")
        await asyncio.sleep(0.25)


# --- 1. a gateway dies -------------------------------------------------------------------------


async def test_kill_9_gateway_its_users_go_offline_survivors_stay_online(
    presence_scene: Scene,
) -> None:
    scene = presence_scene
    fs = scene.fs
    victim, survivor = fs.gateway_names[:2]
    gone, watcher_user, stayer = await scene.users(3)
    watched = [gone.id, stayer.id, watcher_user.id]

    watcher = await scene.socket(survivor, watcher_user)
    await watcher.subscribe(watched)
    gone_sock = await scene.socket(victim, gone)  # that user's only socket
    await scene.socket(survivor, stayer)
    await watcher.wait_status(gone.id, "online", 10)
    await watcher.wait_status(stayer.id, "online", 10)

    killed_at = time.monotonic()
    await fs.call(fs.stack.kill, victim)
    assert victim not in fs.stack.pids()
    await asyncio.wait_for(gone_sock.closed.wait(), 5)

    await watcher.wait_status(gone.id, "offline", GATEWAY_DEATH_S - (time.monotonic() - killed_at))
    took = time.monotonic() - killed_at
    log.info("gateway %s killed: %s offline after %.1fs", victim, gone.id, took)
    snapshot = await scene.presence(watcher_user, watched)
    assert snapshot[gone.id] == "offline", snapshot
    assert snapshot[stayer.id] == "online", snapshot
    assert snapshot[watcher_user.id] == "online", snapshot
    # The survivor's users were never announced offline (live frames may repeat, api-v1 §6).
    assert "offline" not in watcher.statuses(stayer.id), watcher.statuses(stayer.id)
    assert "offline" not in watcher.statuses(watcher_user.id)
    assert watcher.statuses(gone.id)[-1] == "offline", watcher.statuses(gone.id)
    assert not watcher.closed.is_set()
    assert took < GATEWAY_DEATH_S


# --- 2. the leading presence replica dies ------------------------------------------------------


async def test_kill_9_presence_leader_the_other_replica_announces_exactly_once(
    presence_scene: Scene,
) -> None:
    scene = presence_scene
    fs = scene.fs
    http = scene.http
    config = fs.stack.config
    spec = config.service("presence")
    port = free_extra_port()
    # A second replica with the stack's own environment (the fixture runs one presence replica).
    extra = ManagedProcess(
        name="presence-fault-extra",
        argv=spec.argv(),
        log_path=config.logs / "presence-fault-extra.log",
        env=config.service_env(spec, port),
        cwd=config.root,
    )
    extra_url = f"http://127.0.0.1:{port}"
    tap = BusTap(fs.rabbitmq.url)
    await fs.call(extra.start)  # from the starter thread: the child must outlive this loop
    try:

        async def extra_ready() -> bool:
            if not extra.running:  # fail at once, not after the timeout
                raise RuntimeError(f"the extra replica exited:\n{extra.log_tail()}")
            return (await http.get(f"{extra_url}/readyz")).status_code == 200

        await eventually(extra_ready, 60, "the extra presence replica ready")
        replicas = {"presence": fs.stack.url("presence"), "extra": extra_url}
        leaders = {n: await is_leader(http, u) for n, u in replicas.items()}
        assert sum(leaders.values()) == 1, f"exactly one replica should lead: {leaders}"
        dead = next(n for n, lead in leaders.items() if lead)
        heir = next(n for n in replicas if n != dead)
        log.info("presence leader %s killed, %s should take over", dead, heir)

        await tap.start()
        if dead == "presence":
            await fs.call(fs.stack.kill, "presence")
        else:
            await fs.call(extra.kill)

        async def heir_leads() -> bool:
            return await is_leader(http, replicas[heir])

        # The victim's lock connection is gone with it; the heir retries every 1.5 s.
        await eventually(heir_leads, 15, f"{heir} holding the leader lock")

        viewer, newcomer = await scene.users(2)
        await scene.socket(fs.gateway_names[0], newcomer)
        await tap.wait_change(newcomer.id, "online", 10)
        # A full heartbeat round listing the newcomer, then the coalescing window: a repeat
        # from the heir (or a late one from anybody) would have been published by now.
        await tap.wait_heartbeat_listing({newcomer.id}, 15)
        await asyncio.sleep(1.0)
        assert tap.changes(newcomer.id) == ["online"], tap.changes(newcomer.id)
        snapshot = await scene.presence(viewer, [newcomer.id], replicas[heir])
        assert snapshot[newcomer.id] == "online", snapshot
    finally:
        await tap.stop()
        # Stack's replica back first, so a leader is always there when the extra one leaves.
        await fs.call(fs.heal)
        await fs.call(extra.stop, 10.0)
    assert not extra.running


# --- 3. the broker restarts --------------------------------------------------------------------


async def test_rabbitmq_restart_connected_users_are_not_announced_offline(
    presence_scene: Scene,
) -> None:
    scene = presence_scene
    fs = scene.fs
    users = await scene.users(4)
    viewer = users[0]
    ids = [u.id for u in users]
    durable = BusTap(fs.rabbitmq.url, durable=True)
    await durable.start()
    after = BusTap(fs.rabbitmq.url)
    try:
        sockets = [
            await scene.socket(fs.gateway_names[i % 2], user) for i, user in enumerate(users)
        ]
        for user_id in ids:
            await durable.wait_change(user_id, "online", 10)
        # Closed by us before the broker goes: what is published meanwhile waits in the queue.
        await durable.stop()

        # Graceful stop/start as in test_rabbitmq_restart (a SIGKILL can stall quorum queues on
        # 3.10), but down for longer than a gateway's silence limit: were the silence timers
        # not restarted when presence-service's link comes back, every gateway would be taken
        # for dead at the first sweep, before its first heartbeat after the outage.
        await fs.call(fs.rabbitmq.stop)
        await asyncio.sleep(BROKER_OUTAGE_S)  # the fault itself lasts this long
        await fs.call(fs.rabbitmq.start)
        back_at = time.monotonic()
        log.info("private RabbitMQ back after %.0fs down", BROKER_OUTAGE_S)
        await durable.start()
        await after.start()
        await fs.call(fs.stack.wait_ready, None, 60)
        assert fs.stack.dead() == {}, "a service died instead of reconnecting"

        # The announcer works after the restart (so silence below means something).
        newcomer = (await scene.users(1))[0]
        await scene.socket(fs.gateway_names[1], newcomer)
        await durable.wait_change(newcomer.id, "online", 20)
        await after.wait_change(newcomer.id, "online", 5)
        # Every gateway has heartbeated our users again ...
        await after.wait_heartbeat_listing(set(ids), 25)
        log.info("heartbeats heard %.1fs after the broker came back", time.monotonic() - back_at)
        # ... and ~15 s after the broker came back the snapshot still says online.
        await asyncio.sleep(max(0.0, 15.0 - (time.monotonic() - back_at)))

        assert all(not s.closed.is_set() for s in sockets), "a socket was closed by the restart"
        snapshot = await scene.presence(viewer, ids)
        assert snapshot == dict.fromkeys(ids, "online"), snapshot
        for user_id in ids:
            assert "offline" not in durable.changes(user_id), (user_id, durable.changes(user_id))
            assert "offline" not in after.changes(user_id), (user_id, after.changes(user_id))
    finally:
        await after.stop()
        await durable.stop(delete=True)
