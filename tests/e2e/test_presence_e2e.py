"""Presence through the running stack (api-v1 §5 to §7): real sockets through the edge.

A watcher socket subscribes (`presence.subscribe`) to the users under test and measures how long
the `presence` frames take after the watched sockets open, close, or say away. Skipped when the
`edge_url` fixture (chat_devtools plugin) is not available.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ORIGIN = Origin("http://localhost:8080")
SUBPROTOCOL = Subprotocol("chat.v1")


def _loopback(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme, parts.netloc.replace("localhost", "127.0.0.1"), parts.path, "", "")
    )


@dataclass
class PresenceUser:
    id: str
    username: str
    password: str
    token: str = ""


@dataclass
class PresenceEdge:
    http_url: str
    ws_url: str
    http: httpx.Client

    def register(self) -> PresenceUser:
        username = f"pr_{uuid.uuid4().hex[:16]}"
        password = f"Amber-Harbour-{uuid.uuid4().hex}"
        r = self.http.post(
            "/v1/auth/register",
            json={"username": username, "display_name": "Presence test", "password": password},
        )
        assert r.status_code == 201, r.text
        user = PresenceUser(r.json()["user"]["id"], username, password)
        r = self.http.post("/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        user.token = r.json()["access_token"]
        return user

    def presence(self, user: PresenceUser, **params: str) -> httpx.Response:
        return self.http.get(
            "/v1/presence", params=params, headers={"Authorization": f"Bearer {user.token}"}
        )


@pytest.fixture(scope="session")
def presence_edge(request: pytest.FixtureRequest) -> Iterator[PresenceEdge]:
    try:
        edge_url: str = request.getfixturevalue("edge_url")
    except pytest.FixtureLookupError:
        pytest.skip("the edge_url fixture (chat_devtools pytest plugin) is not available")
    http_url = _loopback(edge_url).rstrip("/")
    ws_url = http_url.replace("http://", "ws://").replace("https://", "wss://") + "/v1/ws"
    with httpx.Client(base_url=http_url, timeout=15.0) as http:
        yield PresenceEdge(http_url, ws_url, http)


@pytest.fixture(scope="session")
def presence_people(presence_edge: PresenceEdge) -> list[PresenceUser]:
    # Registrations are few on purpose: each costs a hash and counts against a per-address limit.
    return [presence_edge.register() for _ in range(4)]


class Socket:
    """One authenticated socket; frames are read in the background and kept with arrival time."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                frame = orjson.loads(raw)
                async with self._arrived:
                    self.frames.append((time.monotonic(), frame))
                    self._arrived.notify_all()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    def presence_frames(self, user_id: str) -> list[tuple[float, str]]:
        return [
            (at, f["status"])
            for at, f in self.frames
            if f.get("type") == "presence" and f.get("user_id") == user_id
        ]

    async def wait_presence(
        self, user_id: str, status: str, *, after: float, within_s: float
    ) -> float:
        def found() -> float | None:
            for at, s in self.presence_frames(user_id):
                if s == status and at >= after:
                    return at
            return None

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: found() is not None), within_s)
        at = found()
        assert at is not None
        return at

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def socket(edge: PresenceEdge, user: PresenceUser) -> AsyncIterator[Socket]:
    ws = await connect(edge.ws_url, subprotocols=[SUBPROTOCOL], origin=ORIGIN)
    await ws.send(orjson.dumps({"type": "auth", "token": user.token}).decode())
    while True:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame.get("type") == "ready":
            break
        assert frame.get("type") != "error", frame
    sock = Socket(ws)
    try:
        yield sock
    finally:
        await sock.close()


@contextlib.asynccontextmanager
async def watch(
    edge: PresenceEdge, watcher: PresenceUser, *users: PresenceUser
) -> AsyncIterator[Socket]:
    async with socket(edge, watcher) as sock:
        await sock.send({"type": "presence.subscribe", "user_ids": [u.id for u in users]})
        yield sock


async def wait_offline(edge: PresenceEdge, asker: PresenceUser, user: PresenceUser) -> None:
    """Start each test from a known state: the watched user is offline."""
    for _ in range(100):
        r = edge.presence(asker, user_ids=user.id)
        if r.json()["users"][0]["status"] == "offline":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{user.id} did not go offline")


async def test_online_within_1s_and_offline_within_2s(
    presence_edge: PresenceEdge, presence_people: list[PresenceUser]
) -> None:
    watcher, alice = presence_people[0], presence_people[1]
    await wait_offline(presence_edge, watcher, alice)
    async with watch(presence_edge, watcher, alice) as sock:
        opened = time.monotonic()
        async with socket(presence_edge, alice):
            ready = time.monotonic()
            at = await sock.wait_presence(alice.id, "online", after=opened, within_s=5)
            assert at - ready <= 1.0
            body = presence_edge.presence(watcher, user_ids=alice.id).json()
            assert body["users"][0]["status"] == "online"
            assert any(
                p["user_id"] == alice.id for p in presence_edge.presence(watcher).json()["users"]
            )
        closed = time.monotonic()
        at = await sock.wait_presence(alice.id, "offline", after=closed, within_s=5)
        assert at - closed <= 2.0
        body = presence_edge.presence(watcher, user_ids=alice.id).json()["users"][0]
        assert body["status"] == "offline"
        assert body["last_seen_at"] is not None


async def test_two_tabs_stay_online_until_the_last_closes(
    presence_edge: PresenceEdge, presence_people: list[PresenceUser]
) -> None:
    watcher, bob = presence_people[0], presence_people[2]
    await wait_offline(presence_edge, watcher, bob)
    async with watch(presence_edge, watcher, bob) as sock:
        start = time.monotonic()
        async with socket(presence_edge, bob):
            async with socket(presence_edge, bob):
                await sock.wait_presence(bob.id, "online", after=start, within_s=5)
            one_closed = time.monotonic()
            await asyncio.sleep(2.5)  # longer than the 2 s an offline may take
            assert [s for at, s in sock.presence_frames(bob.id) if at >= one_closed] == []
            assert (
                presence_edge.presence(watcher, user_ids=bob.id).json()["users"][0]["status"]
                == "online"
            )
        closed = time.monotonic()
        at = await sock.wait_presence(bob.id, "offline", after=closed, within_s=5)
        assert at - closed <= 2.0


async def test_away_when_every_connection_says_so(
    presence_edge: PresenceEdge, presence_people: list[PresenceUser]
) -> None:
    watcher, carol = presence_people[0], presence_people[3]
    await wait_offline(presence_edge, watcher, carol)
    async with watch(presence_edge, watcher, carol) as sock:
        start = time.monotonic()
        async with socket(presence_edge, carol) as tab1, socket(presence_edge, carol) as tab2:
            await sock.wait_presence(carol.id, "online", after=start, within_s=5)
            await tab1.send({"type": "presence.set", "status": "away"})
            await asyncio.sleep(1.5)
            assert (
                presence_edge.presence(watcher, user_ids=carol.id).json()["users"][0]["status"]
                == "online"
            )  # tab2 is still active
            t = time.monotonic()
            await tab2.send({"type": "presence.set", "status": "away"})
            at = await sock.wait_presence(carol.id, "away", after=t, within_s=5)
            assert at - t <= 1.0
            t = time.monotonic()
            await tab1.send({"type": "presence.set", "status": "online"})
            at = await sock.wait_presence(carol.id, "online", after=t, within_s=5)
            assert at - t <= 1.0


async def test_presence_only_for_subscribed_users(
    presence_edge: PresenceEdge, presence_people: list[PresenceUser]
) -> None:
    watcher, alice, bob = presence_people[0], presence_people[1], presence_people[2]
    await wait_offline(presence_edge, watcher, alice)
    await wait_offline(presence_edge, watcher, bob)
    async with watch(presence_edge, watcher, alice) as sock:  # not bob
        start = time.monotonic()
        async with socket(presence_edge, bob), socket(presence_edge, alice):
            await sock.wait_presence(alice.id, "online", after=start, within_s=5)
        await sock.wait_presence(alice.id, "offline", after=start, within_s=5)
        assert sock.presence_frames(bob.id) == []


def test_bad_user_ids_are_a_422_problem_and_no_token_is_401(
    presence_edge: PresenceEdge, presence_people: list[PresenceUser]
) -> None:
    user = presence_people[0]
    for value in ["nope", "1,2", ",".join(str(uuid.uuid4()) for _ in range(501))]:
        r = presence_edge.presence(user, user_ids=value)
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"]
    r = presence_edge.http.get("/v1/presence")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.timeout(90)
async def test_silent_gateway_offline_after_30s_not_35(
    presence_edge: PresenceEdge, presence_people: list[PresenceUser]
) -> None:
    """The spec's real values: a gateway that dies without a word (like `kill -9`) takes its
    users offline after its 30 s silence, within 35 s. Simulated by a gateway identity that
    publishes one `opened` signal straight to the stack's broker and then never speaks again."""
    from chat_contracts import names, types
    from chat_runtime.messaging import Broker, OutgoingMessage

    asker = presence_people[0]
    ghost = str(uuid.uuid4())
    broker = Broker(
        os.environ.get("CHAT_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        service="presence-e2e-dead-gateway",
    )
    await broker.connect()
    try:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        opened = types.PresenceConnectionOpenedV1(
            gateway_id=str(uuid.uuid4()),
            connection_id=str(uuid.uuid4()),
            user_id=ghost,
            status="online",
            at=now,
        )
        result = await broker.publish(
            names.EXCHANGE_EVENTS,
            OutgoingMessage.of(names.PRESENCE_CONNECTION_OPENED_V1, opened),
        )
        result.raise_first()
    finally:
        await broker.close()
    spoke = time.monotonic()
    seen_online = False
    while time.monotonic() - spoke < 40:
        status = presence_edge.presence(asker, user_ids=ghost).json()["users"][0]["status"]
        if status == "online":
            seen_online = True
        elif seen_online and status == "offline":
            break
        await asyncio.sleep(0.5)
    elapsed = time.monotonic() - spoke
    assert seen_online
    assert 29.0 <= elapsed <= 35.0
