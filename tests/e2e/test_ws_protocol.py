"""WebSocket protocol (api-v1 §6) through the running stack's edge, with the `websockets` client.

Every refusal gets exactly the specified error or close code, and valid traffic on the same
connection keeps working afterwards. Joining a room by REST, an invitation and a new direct room
reach sockets that are already open. Skipped when the `edge_url` fixture (chat_devtools plugin)
is not available.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

pytestmark = pytest.mark.e2e

SUBPROTOCOL = Subprotocol("chat.v1")
FRAME_TIMEOUT_S = 10.0


def _loopback(url: str) -> str:
    # Traffic stays on 127.0.0.1 even when the edge is announced as localhost.
    parts = urlsplit(url)
    netloc = parts.netloc.replace("localhost", "127.0.0.1")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class User:
    id: str
    username: str
    password: str
    token: str = ""
    token_at: float = 0.0


@dataclass
class Edge:
    http_url: str
    ws_url: str
    origin: Origin  # the browser origin of this edge, which the gateway must allow
    http: httpx.Client
    users: list[User] = field(default_factory=list)

    def register(self) -> User:
        username = f"ws_{uuid.uuid4().hex[:16]}"
        password = f"Quiet-Lantern-{uuid.uuid4().hex}"
        r = self.http.post(
            "/v1/auth/register",
            json={"username": username, "display_name": "WS test", "password": password},
        )
        assert r.status_code == 201, r.text
        return User(r.json()["user"]["id"], username, password)

    def token(self, user: User) -> str:
        # Access tokens live 15 minutes; log in again well before that.
        if not user.token or time.monotonic() - user.token_at > 600:
            r = self.http.post(
                "/v1/auth/login", json={"username": user.username, "password": user.password}
            )
            assert r.status_code == 200, r.text
            user.token, user.token_at = r.json()["access_token"], time.monotonic()
        return user.token

    def api(self, user: User, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        return self.http.request(method, path, headers=headers, **kwargs)

    def create_room(self, user: User, visibility: str = "public") -> str:
        r = self.api(
            user,
            "POST",
            "/v1/rooms",
            json={"name": f"ws-{uuid.uuid4().hex[:8]}", "visibility": visibility},
        )
        assert r.status_code == 201, r.text
        room_id: str = r.json()["room"]["id"]
        return room_id


@pytest.fixture(scope="session")
def ws_edge(request: pytest.FixtureRequest) -> Iterator[Edge]:
    try:
        edge_url: str = request.getfixturevalue("edge_url")
    except pytest.FixtureLookupError:
        pytest.skip("the edge_url fixture (chat_devtools pytest plugin) is not available")
    http_url = _loopback(edge_url).rstrip("/")
    ws_url = http_url.replace("http://", "ws://").replace("https://", "wss://") + "/v1/ws"
    origin = Origin(edge_url.rstrip("/"))
    with httpx.Client(base_url=http_url, timeout=15.0) as http:
        yield Edge(http_url, ws_url, origin, http)


@pytest.fixture(scope="session")
def ws_users(ws_edge: Edge) -> list[User]:
    # Few registrations: each costs an argon2 hash and counts against the per-address limit.
    return [ws_edge.register() for _ in range(3)]


# --- socket helpers ----------------------------------------------------------------------------


async def recv(ws: ClientConnection, timeout: float = FRAME_TIMEOUT_S) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def recv_until(
    ws: ClientConnection, frame_type: str, timeout: float = FRAME_TIMEOUT_S
) -> dict[str, Any]:
    """The next frame of `frame_type`, skipping others (presence, typing, read...)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await recv(ws, max(0.1, deadline - time.monotonic()))
        if frame["type"] == frame_type:
            return frame


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(frame).decode())


async def still_works(ws: ClientConnection) -> None:
    await ws.send('{"type":"ping"}')
    await recv_until(ws, "pong")


async def close_code(ws: ClientConnection, timeout: float = FRAME_TIMEOUT_S) -> int | None:
    async def read_all() -> None:
        while True:
            await ws.recv()

    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(read_all(), timeout)
    return info.value.rcvd.code if info.value.rcvd is not None else None


@contextlib.asynccontextmanager
async def open_socket(
    edge: Edge, user: User
) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
    async with connect(
        edge.ws_url,
        subprotocols=[SUBPROTOCOL],
        origin=edge.origin,
        compression=None,
        max_size=2**20,
    ) as ws:
        assert ws.subprotocol == "chat.v1"
        await send(ws, {"type": "auth", "token": edge.token(user)})
        ready = await recv(ws)
        assert ready["type"] == "ready", ready
        assert ready["user_id"] == user.id
        assert ready["heartbeat_s"] == 25
        yield ws, ready


def msg_send(room_id: str, text: str, client_msg_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "message.send",
        "client_msg_id": client_msg_id or str(uuid.uuid4()),
        "room_id": room_id,
        "text": text,
    }


async def send_and_ack(ws: ClientConnection, room_id: str, text: str) -> dict[str, Any]:
    frame = msg_send(room_id, text)
    await send(ws, frame)
    ack = await recv_until(ws, "message.ack")
    assert ack["client_msg_id"] == frame["client_msg_id"]
    assert ack["message"]["text"] == text
    return ack


# --- handshake and authentication ---------------------------------------------------------------


async def test_bad_origin_is_refused_with_403(ws_edge: Edge) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            ws_edge.ws_url,
            subprotocols=[SUBPROTOCOL],
            origin=Origin("http://evil.example"),
        ):
            pass
    assert info.value.response.status_code == 403


async def test_missing_subprotocol_is_refused_with_403(ws_edge: Edge) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_edge.ws_url, origin=ws_edge.origin):
            pass
    assert info.value.response.status_code == 403


async def test_no_auth_frame_within_5s_closes_4401(ws_edge: Edge) -> None:
    async with connect(ws_edge.ws_url, subprotocols=[SUBPROTOCOL]) as ws:
        started = time.monotonic()
        err = await recv(ws, timeout=8)
        assert (err["type"], err["code"]) == ("error", "unauthorized")
        assert await close_code(ws) == 4401
        assert 4.0 <= time.monotonic() - started <= 8.0


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "not.a.jwt"},
        {"type": "auth", "token": ""},
        {"type": "ping"},
    ],
)
async def test_bad_token_closes_4401(ws_edge: Edge, first: dict[str, Any]) -> None:
    async with connect(ws_edge.ws_url, subprotocols=[SUBPROTOCOL]) as ws:
        await send(ws, first)
        err = await recv(ws)
        assert (err["type"], err["code"]) == ("error", "unauthorized")
        assert await close_code(ws) == 4401


# --- bad frames ---------------------------------------------------------------------------------


async def test_bad_frames_get_bad_request_and_the_socket_keeps_working(
    ws_edge: Edge, ws_users: list[User]
) -> None:
    alice = ws_users[0]
    room = ws_edge.create_room(alice)
    async with open_socket(ws_edge, alice) as (ws, _):
        await ws.send("{this is not json")
        err = await recv_until(ws, "error")
        assert err["code"] == "bad_request"
        await still_works(ws)

        await send(ws, {"type": "teleport", "where": "moon"})
        err = await recv_until(ws, "error")
        assert (err["code"], err["ref"]) == ("bad_request", "teleport")
        await still_works(ws)

        await send(ws, {"type": "message.send", "room_id": room, "text": "no id"})
        err = await recv_until(ws, "error")
        assert err["code"] == "bad_request"

        for bad in (
            msg_send("not-a-uuid", "hi"),
            msg_send(room, "hi", client_msg_id="1234"),
            {"type": "typing", "room_id": "zzz"},
            {"type": "read", "room_id": room, "seq": "seven"},
            {"type": "presence.subscribe", "user_ids": ["nope"]},
        ):
            await send(ws, bad)
            err = await recv_until(ws, "error")
            assert err["code"] == "bad_request", (bad, err)
            assert err["ref"] in (bad["type"], bad.get("client_msg_id")), err
        await send_and_ack(ws, room, "still fine after all that")


async def test_text_rules(ws_edge: Edge, ws_users: list[User]) -> None:
    alice = ws_users[0]
    room = ws_edge.create_room(alice)
    async with open_socket(ws_edge, alice) as (ws, _):
        blank = msg_send(room, " \t\n ")
        await send(ws, blank)
        err = await recv_until(ws, "error")
        assert (err["code"], err["ref"]) == ("bad_request", blank["client_msg_id"])

        too_long = msg_send(room, "a" * 4001)
        await send(ws, too_long)
        err = await recv_until(ws, "error")
        assert (err["code"], err["ref"]) == ("message_too_long", too_long["client_msg_id"])

        ack = await send_and_ack(ws, room, "😀" * 4000)  # 4000 code points, 16000 bytes
        assert len(ack["message"]["text"]) == 4000


async def test_frame_over_64_kib_closes_1009(ws_edge: Edge, ws_users: list[User]) -> None:
    alice = ws_users[0]
    async with open_socket(ws_edge, alice) as (ws, _):
        await ws.send("x" * (64 * 1024 + 1))
        assert await close_code(ws) == 1009


async def test_frame_of_exactly_64_kib_is_only_a_bad_request(
    ws_edge: Edge, ws_users: list[User]
) -> None:
    alice = ws_users[0]
    async with open_socket(ws_edge, alice) as (ws, _):
        await ws.send(" " * (64 * 1024))
        err = await recv_until(ws, "error")
        assert err["code"] == "bad_request"
        await still_works(ws)


async def test_non_member_room_and_reused_client_msg_id(
    ws_edge: Edge, ws_users: list[User]
) -> None:
    alice, bob = ws_users[0], ws_users[1]
    room_a = ws_edge.create_room(alice)
    room_b = ws_edge.create_room(alice)
    bobs_private = ws_edge.create_room(bob, "private")
    async with open_socket(ws_edge, alice) as (ws, _):
        frame = msg_send(bobs_private, "let me in")
        await send(ws, frame)
        err = await recv_until(ws, "error")
        assert (err["code"], err["ref"]) == ("not_a_member", frame["client_msg_id"])

        cmid = str(uuid.uuid4())
        await send(ws, msg_send(room_a, "first use", cmid))
        ack = await recv_until(ws, "message.ack")
        assert ack["client_msg_id"] == cmid
        # A retry in the same room is acked with the same message, not stored twice.
        await send(ws, msg_send(room_a, "first use", cmid))
        again = await recv_until(ws, "message.ack")
        assert again["message"]["id"] == ack["message"]["id"]
        # The same id in another room is refused by message-service.
        await send(ws, msg_send(room_b, "second use", cmid))
        err = await recv_until(ws, "error")
        assert (err["code"], err["ref"]) == ("client_msg_id_reused", cmid)
        await send_and_ack(ws, room_a, "valid traffic goes on")


async def test_burst_over_the_rate_limit(ws_edge: Edge, ws_users: list[User]) -> None:
    alice = ws_users[2]
    async with open_socket(ws_edge, alice) as (ws, _):
        for _ in range(160):
            await ws.send('{"type":"ping"}')
        answers: list[dict[str, Any]] = []
        while len(answers) < 160:
            frame = await recv(ws)
            if frame["type"] in ("pong", "error"):
                answers.append(frame)
        limited = [a for a in answers if a["type"] == "error"]
        assert limited, "a burst of 160 frames must exceed the bucket of 100"
        assert {(a["code"], a["ref"]) for a in limited} == {("rate_limited", "ping")}
        assert len(answers) - len(limited) >= 100  # the burst allowance
        await asyncio.sleep(1.5)  # the bucket refills at 20 per second
        await still_works(ws)


# --- membership changes reach open sockets --------------------------------------------------------


async def _expect_joined(ws: ClientConnection, room_id: str, user_id: str) -> None:
    deadline = time.monotonic() + FRAME_TIMEOUT_S
    while True:
        frame = await recv_until(ws, "room.member_joined", max(0.1, deadline - time.monotonic()))
        if frame["room_id"] == room_id and frame["user_id"] == user_id:
            return


async def _expect_message(ws: ClientConnection, room_id: str, text: str) -> None:
    deadline = time.monotonic() + FRAME_TIMEOUT_S
    while True:
        frame = await recv_until(ws, "message.new", max(0.1, deadline - time.monotonic()))
        if frame["message"]["room_id"] == room_id and frame["message"]["text"] == text:
            return


async def test_rest_join_reaches_an_open_socket(ws_edge: Edge, ws_users: list[User]) -> None:
    alice, bob = ws_users[0], ws_users[1]
    room = ws_edge.create_room(alice, "public")
    async with open_socket(ws_edge, bob) as (wb, _), open_socket(ws_edge, alice) as (wa, _):
        r = ws_edge.api(bob, "POST", f"/v1/rooms/{room}/members", json={})
        assert r.status_code == 200, r.text
        await _expect_joined(wb, room, bob.id)
        await send_and_ack(wa, room, "welcome, bob")
        await _expect_message(wb, room, "welcome, bob")
        await send_and_ack(wb, room, "thanks")  # bob may send at once


async def test_invite_reaches_an_open_socket(ws_edge: Edge, ws_users: list[User]) -> None:
    alice, carol = ws_users[0], ws_users[2]
    room = ws_edge.create_room(alice, "private")
    async with open_socket(ws_edge, carol) as (wc, _), open_socket(ws_edge, alice) as (wa, _):
        r = ws_edge.api(alice, "POST", f"/v1/rooms/{room}/members", json={"user_id": carol.id})
        assert r.status_code == 200, r.text
        await _expect_joined(wc, room, carol.id)
        await send_and_ack(wa, room, "a private hello")
        await _expect_message(wc, room, "a private hello")


async def test_new_direct_room_reaches_an_open_socket(ws_edge: Edge, ws_users: list[User]) -> None:
    # A fresh pair, so the direct room is created by this call.
    first, second = ws_edge.register(), ws_edge.register()
    async with open_socket(ws_edge, second) as (ws2, _), open_socket(ws_edge, first) as (ws1, _):
        r = ws_edge.api(first, "POST", "/v1/dms", json={"user_id": second.id})
        assert r.status_code == 200, r.text
        room = r.json()["room"]["id"]
        await _expect_joined(ws2, room, second.id)
        # The caller's own open socket learns the new room the same way before sending in it.
        await _expect_joined(ws1, room, first.id)
        await send_and_ack(ws1, room, "direct hello")
        await _expect_message(ws2, room, "direct hello")


# --- live traffic between members, presence, session end ------------------------------------------


async def test_members_see_messages_typing_and_reads(ws_edge: Edge, ws_users: list[User]) -> None:
    alice, bob = ws_users[0], ws_users[1]
    room = ws_edge.create_room(alice, "public")
    assert ws_edge.api(bob, "POST", f"/v1/rooms/{room}/members", json={}).status_code == 200
    async with open_socket(ws_edge, alice) as (wa, _), open_socket(ws_edge, bob) as (wb, _):
        ack = await send_and_ack(wa, room, "hello bob")
        await _expect_message(wa, room, "hello bob")  # the sender's sockets get it too
        await _expect_message(wb, room, "hello bob")

        await send(wa, {"type": "typing", "room_id": room})
        typing = await recv_until(wb, "typing")
        assert typing == {"type": "typing", "room_id": room, "user_id": alice.id}

        seq = ack["message"]["seq"]
        await send(wb, {"type": "read", "room_id": room, "seq": seq})
        deadline = time.monotonic() + FRAME_TIMEOUT_S
        while True:
            read = await recv_until(wa, "read", max(0.1, deadline - time.monotonic()))
            if read["user_id"] == bob.id:
                break
        assert read == {"type": "read", "room_id": room, "user_id": bob.id, "seq": seq}


async def test_presence_frames_follow_a_subscribed_user(ws_edge: Edge) -> None:
    watcher, watched = ws_edge.register(), ws_edge.register()

    async def next_status(ws: ClientConnection, wanted: str) -> dict[str, Any]:
        deadline = time.monotonic() + FRAME_TIMEOUT_S
        while True:
            frame = await recv_until(ws, "presence", max(0.1, deadline - time.monotonic()))
            if frame["user_id"] == watched.id and frame["status"] == wanted:
                return frame

    async with open_socket(ws_edge, watcher) as (ww, _):
        await send(ww, {"type": "presence.subscribe", "user_ids": [watched.id]})
        await still_works(ww)
        async with open_socket(ws_edge, watched) as (wt, _):
            online = await next_status(ww, "online")
            assert online["last_seen_at"].endswith("Z")
            await send(wt, {"type": "presence.set", "status": "away"})
            await next_status(ww, "away")
        started = time.monotonic()
        await next_status(ww, "offline")
        assert time.monotonic() - started < 5.0  # api-v1: offline within 2 s of the last close


async def test_logout_closes_the_session_socket_4401_within_a_second(ws_edge: Edge) -> None:
    user = ws_edge.register()
    async with open_socket(ws_edge, user) as (ws, _):
        r = ws_edge.http.post(
            "/v1/auth/logout",
            json={},
            headers={"Authorization": f"Bearer {user.token}"},
        )
        assert r.status_code == 204, r.text
        started = time.monotonic()
        assert await close_code(ws, timeout=5) == 4401
        assert time.monotonic() - started <= 1.0
