"""A chat client that behaves as api-v1 §6 asks of one, for fault and e2e tests.

- `ChatApi`: register / login through auth-service, rooms and history through message-service
  (several base URLs: a dead replica or an outage is retried on the next one, with backoff).
- `ChatClient`: one user's WebSocket with
  * first-frame auth, reconnect with exponential backoff and jitter, trying the next gateway URL
    when one refuses (what a load balancer in front of several gateways does for a browser);
  * an outbox: every send keeps its `client_msg_id` until `message.ack`, and is sent again with the
    same id after a reconnect, after an `unavailable`/`rate_limited` error, and when unacked for a
    while (idempotent send makes every retry safe);
  * a per-room view merged by `seq`: live `message.new`/`message.ack` frames, and
    `GET /v1/rooms/{id}/messages?after_seq=<highest contiguous>` on `ready`, on `resync` and
    on a gap; each view also rebuilds the room's state with the reference reducer of api-v1.1 A
    (`chat_devtools.timeline`: edits, deletes and reactions applied by the `state_seq` rule);
  * every entry kind of api-v1.1 A can be sent (`kind`, `target_id`, `emoji`, `added`); an ack
    with `noop: true` (a reaction that changed nothing) is recorded in `noops`.

Only the `websockets` and `httpx` libraries and the test tooling's reducer; no product code is
imported, so the client checks the public contract and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from chat_devtools.timeline import Timeline
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

SUBPROTOCOL = Subprotocol("chat.v1")
HISTORY_PAGE = 200
# A send unacked for this long is sent again (same client_msg_id) while the socket is up.
RESEND_AFTER_S = 5.0
# After an `unavailable` error the send is retried this soon.
RETRY_AFTER_ERROR_S = 1.0
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 3.0
RETRYABLE_ERRORS = frozenset({"unavailable", "rate_limited"})


class ApiError(RuntimeError):
    pass


@dataclass
class User:
    id: str
    username: str
    password: str
    token: str = ""


@dataclass
class ChatApi:
    """HTTP side of the product. `message_urls` lists message-service replicas (tried in turn)."""

    auth_url: str
    message_urls: Sequence[str]
    http: httpx.AsyncClient
    request_timeout_s: float = 5.0

    async def register(self, prefix: str = "fault") -> User:
        username = f"{prefix}_{uuid.uuid4().hex[:14]}"
        password = f"Quiet-Lantern-{uuid.uuid4().hex}"
        r = await self.http.post(
            f"{self.auth_url}/v1/auth/register",
            json={"username": username, "display_name": username, "password": password},
        )
        if r.status_code != 201:
            raise ApiError(f"register: {r.status_code} {r.text}")
        user = User(r.json()["user"]["id"], username, password)
        await self.login(user)
        return user

    async def login(self, user: User) -> str:
        r = await self.http.post(
            f"{self.auth_url}/v1/auth/login",
            json={"username": user.username, "password": user.password},
        )
        if r.status_code != 200:
            raise ApiError(f"login: {r.status_code} {r.text}")
        user.token = r.json()["access_token"]
        return user.token

    async def message_api(
        self,
        user: User,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        retry_for_s: float = 0.0,
    ) -> httpx.Response:
        """Call message-service, moving to the next replica on a connection error or a 5xx, and
        retrying (with backoff) for up to `retry_for_s` seconds in all."""
        deadline = time.monotonic() + retry_for_s
        attempt = 0
        last = ""
        while True:
            base = self.message_urls[attempt % len(self.message_urls)]
            try:
                r = await self.http.request(
                    method,
                    f"{base}{path}",
                    json=json,
                    params=params,
                    headers={"Authorization": f"Bearer {user.token}"},
                    timeout=self.request_timeout_s,
                )
                if r.status_code < 500:
                    return r
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            attempt += 1
            if time.monotonic() >= deadline:
                raise ApiError(f"{method} {path}: {last}")
            await asyncio.sleep(backoff(attempt))

    async def create_room(self, user: User, name: str) -> str:
        r = await self.message_api(
            user, "POST", "/v1/rooms", json={"name": name, "visibility": "public"}, retry_for_s=10
        )
        if r.status_code != 201:
            raise ApiError(f"create room: {r.status_code} {r.text}")
        return str(r.json()["room"]["id"])

    async def join_room(self, user: User, room_id: str) -> None:
        r = await self.message_api(
            user, "POST", f"/v1/rooms/{room_id}/members", json={}, retry_for_s=10
        )
        if r.status_code != 200:
            raise ApiError(f"join room: {r.status_code} {r.text}")

    async def history_after(
        self, user: User, room_id: str, after_seq: int, *, retry_for_s: float = 0.0
    ) -> list[dict[str, Any]]:
        """Every message after `after_seq`, ascending (pages until `has_more` is false)."""
        out: list[dict[str, Any]] = []
        while True:
            r = await self.message_api(
                user,
                "GET",
                f"/v1/rooms/{room_id}/messages",
                params={"after_seq": after_seq, "limit": HISTORY_PAGE},
                retry_for_s=retry_for_s,
            )
            if r.status_code != 200:
                raise ApiError(f"history: {r.status_code} {r.text}")
            body = r.json()
            page = body["messages"]
            out.extend(page)
            if not body.get("has_more") or not page:
                return out
            after_seq = int(page[-1]["seq"])


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter in its upper half (no thundering herd)."""
    ceiling: float = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** min(attempt, 10))
    return ceiling * random.uniform(0.5, 1.0)


@dataclass
class Pending:
    room_id: str
    text: str
    last_sent: float = 0.0  # monotonic; 0 = never went out on a ready socket
    attempts: int = 0
    # api-v1.1 A entry fields (`kind`, `target_id`, `emoji`, `added`); empty for a v1 text.
    entry: dict[str, Any] = field(default_factory=dict)


@dataclass
class RoomView:
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    contiguous: int = 0  # highest seq with every seq below it present
    timeline: Timeline = field(default_factory=Timeline)  # the room's state (api-v1.1 A)

    def merge(self, message: dict[str, Any]) -> bool:
        """Add a message by seq; True when it leaves a gap (older ones are missing)."""
        seq = int(message["seq"])
        known = self.messages.get(seq)
        if known is not None and known["id"] != message["id"]:
            raise AssertionError(f"two messages with seq {seq}: {known} and {message}")
        self.messages[seq] = message
        self.timeline.receive(message)
        while self.contiguous + 1 in self.messages:
            self.contiguous += 1
        return seq > self.contiguous

    def ordered_ids(self) -> list[str]:
        return [self.messages[s]["id"] for s in sorted(self.messages)]


class ChatClient:
    def __init__(
        self,
        api: ChatApi,
        user: User,
        gateway_urls: Sequence[str],
        rooms: Sequence[str],
        *,
        name: str = "",
    ) -> None:
        self.api = api
        self.user = user
        self.gateway_urls = list(gateway_urls)
        self.name = name or user.username
        self.views: dict[str, RoomView] = {room: RoomView() for room in rooms}
        self.outbox: dict[str, Pending] = {}
        self.sent: dict[str, Pending] = {}  # every send ever queued (what a replay needs)
        self.acked: dict[str, dict[str, Any]] = {}
        self.noops: set[str] = set()  # acked with `noop: true` (acked[id] is then the target)
        self.rejected: dict[str, str] = {}  # client_msg_id -> error code (not retryable)
        self.errors: list[dict[str, Any]] = []
        # Broken invariants seen on the wire (one seq, two messages; one send, two messages).
        self.violations: list[str] = []
        self.frames: dict[str, int] = {}
        self.ready_count = 0
        self.resyncs = 0
        self.retransmits = 0  # sends that went out again under the same client_msg_id
        self.disconnects = 0
        self.gateway_index = 0
        self.connected_url: str | None = None
        self.ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._sync_wanted = asyncio.Event()
        self._synced = asyncio.Event()
        self._acked_all = asyncio.Event()
        self._acked_all.set()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, ready_timeout_s: float = 20.0) -> None:
        self._tasks = [
            asyncio.create_task(self._connection_loop(), name=f"ws:{self.name}"),
            asyncio.create_task(self._sync_loop(), name=f"sync:{self.name}"),
            asyncio.create_task(self._resend_loop(), name=f"resend:{self.name}"),
        ]
        await asyncio.wait_for(self._ready.wait(), ready_timeout_s)

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.ws is not None

    # --- sending -----------------------------------------------------------------------------

    async def send(
        self,
        room_id: str,
        text: str = "",
        *,
        kind: str = "text",
        target_id: str | None = None,
        emoji: str | None = None,
        added: bool | None = None,
    ) -> str:
        """Queue an entry (a text by default); it is (re)sent until acked. Returns its
        client_msg_id."""
        client_msg_id = str(uuid.uuid4())
        entry: dict[str, Any] = {}
        if kind != "text":
            entry["kind"] = kind
        for name, value in (("target_id", target_id), ("emoji", emoji), ("added", added)):
            if value is not None:
                entry[name] = value
        self.outbox[client_msg_id] = self.sent[client_msg_id] = Pending(room_id, text, entry=entry)
        self._acked_all.clear()
        await self._transmit(client_msg_id)
        return client_msg_id

    async def _transmit(self, client_msg_id: str) -> None:
        pending = self.outbox.get(client_msg_id)
        ws = self.ws
        if pending is None or ws is None or not self._ready.is_set():
            return  # goes out after the next `ready`
        pending.last_sent = time.monotonic()
        pending.attempts += 1
        if pending.attempts > 1:
            self.retransmits += 1
        frame = {
            "type": "message.send",
            "client_msg_id": client_msg_id,
            "room_id": pending.room_id,
            **pending.entry,
        }
        if pending.entry.get("kind", "text") in ("text", "edit"):
            frame["text"] = pending.text
        with contextlib.suppress(ConnectionClosed, OSError):
            await ws.send(orjson.dumps(frame).decode())

    async def _flush_outbox(self) -> None:
        for client_msg_id in list(self.outbox):
            await self._transmit(client_msg_id)

    async def _resend_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if not self.ready:
                continue
            now = time.monotonic()
            for client_msg_id, pending in list(self.outbox.items()):
                if now - pending.last_sent >= RESEND_AFTER_S:
                    await self._transmit(client_msg_id)

    async def wait_all_acked(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._acked_all.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: {len(self.outbox)} sends still unacked after {timeout:.0f}s "
                f"(connected to {self.connected_url}, ready={self.ready}); "
                f"last errors: {self.errors[-5:]}"
            ) from None

    # --- receiving ---------------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        attempt = 0
        while not self._closing:
            url = self.gateway_urls[self.gateway_index % len(self.gateway_urls)]
            got_ready = False
            try:
                async with connect(
                    url,
                    subprotocols=[SUBPROTOCOL],
                    open_timeout=5,
                    close_timeout=1,
                    max_size=2**20,
                ) as ws:
                    await ws.send(orjson.dumps({"type": "auth", "token": self.user.token}).decode())
                    first = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                    if first.get("type") != "ready":
                        self.errors.append(first)
                        raise ConnectionError(f"no ready: {first}")
                    got_ready = True
                    attempt = 0
                    self.ws = ws
                    self.connected_url = url
                    self.ready_count += 1
                    self._ready.set()
                    self._count("ready")
                    # api-v1 §6: on `ready`, fetch after_seq for every room and retry unacked sends.
                    self._request_sync()
                    await self._flush_outbox()
                    async for raw in ws:
                        self._on_frame(orjson.loads(raw))
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError, ConnectionError):
                pass
            finally:
                self.ws = None
                self._ready.clear()
            if self._closing:
                return
            if got_ready:
                self.disconnects += 1
            else:
                # That gateway refused or is gone: the next one (a balancer would do the same).
                self.gateway_index += 1
            attempt += 1
            await asyncio.sleep(backoff(attempt))

    def _count(self, kind: str) -> None:
        self.frames[kind] = self.frames.get(kind, 0) + 1

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = str(frame.get("type"))
        self._count(kind)
        if kind == "message.new":
            self._merge(frame["message"])
        elif kind == "message.ack":
            client_msg_id = str(frame["client_msg_id"])
            message = frame["message"]
            earlier = self.acked.get(client_msg_id)
            if earlier is not None and earlier["id"] != message["id"]:
                self.violations.append(f"{client_msg_id} acked as {earlier} and {message}")
            self.acked[client_msg_id] = message
            if frame.get("noop"):
                self.noops.add(client_msg_id)
            self.outbox.pop(client_msg_id, None)
            if not self.outbox:
                self._acked_all.set()
            self._merge(message)
        elif kind == "resync":
            self.resyncs += 1
            self._request_sync()
        elif kind == "error":
            self.errors.append(frame)
            ref = str(frame.get("ref"))
            pending = self.outbox.get(ref)
            if pending is None:
                return
            if frame.get("code") in RETRYABLE_ERRORS:
                # Resent by the resend loop soon ("Sending…"), same client_msg_id.
                pending.last_sent = time.monotonic() - RESEND_AFTER_S + RETRY_AFTER_ERROR_S
            else:
                # A refusal the user sees as "Failed — retry": not retried automatically.
                self.rejected[ref] = str(frame.get("code"))
                self.outbox.pop(ref, None)
                if not self.outbox:
                    self._acked_all.set()

    def _merge(self, message: dict[str, Any]) -> None:
        view = self.views.get(str(message["room_id"]))
        if view is None:
            return
        try:
            gap = view.merge(message)
        except AssertionError as exc:
            self.violations.append(str(exc))
            return
        if gap:
            self._request_sync()  # a gap: fetch what is missing

    # --- catching up -------------------------------------------------------------------------

    def _request_sync(self) -> None:
        self._synced.clear()
        self._sync_wanted.set()

    async def _sync_loop(self) -> None:
        attempt = 0
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()
            try:
                for room_id, view in self.views.items():
                    messages = await self.api.history_after(self.user, room_id, view.contiguous)
                    for message in messages:
                        self._merge(message)
                attempt = 0
                if not self._sync_wanted.is_set():
                    self._synced.set()
            except (ApiError, httpx.HTTPError):
                # message-service or its database is down: try again with backoff.
                attempt += 1
                self._sync_wanted.set()
                await asyncio.sleep(backoff(attempt))

    async def catch_up(self, timeout: float = 30.0) -> None:
        """Fetch everything after the contiguous seq of every room, and wait until it is merged."""
        self._request_sync()
        await asyncio.wait_for(self._synced.wait(), timeout)
