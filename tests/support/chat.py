"""A small async chat client for cross-service tests, written from api-v1 alone.

- `Edge`: the HTTP side through the edge (register, login, logout, bearer REST helpers).
- `User`: a registered, logged-in account with bearer helpers (`get`, `post`, `delete`).
- `Socket`: one WebSocket session (`chat.v1`, first-frame auth, `ready`), every frame collected;
  `await wait_for(type, predicate, timeout)` takes the next matching frame.
- `RoomView` / `ClientView`: what a client shows, per api-v1 §6's delivery rule: live
  `message.new` frames merged by `seq` with `GET /v1/rooms/{id}/messages?after_seq=` catch-up.

All traffic goes to 127.0.0.1 even when the edge is announced as `localhost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

Frame = dict[str, Any]
Message = dict[str, Any]
FramePredicate = Callable[[Frame], bool]

SUBPROTOCOL = Subprotocol("chat.v1")
PROBLEM_TYPE = "application/problem+json"
DEFAULT_TIMEOUT_S = 10.0
HISTORY_PAGE = 200  # the spec's maximum `limit`
JSON_HEADERS = {"Content-Type": "application/json"}
POOL_TOKEN_MAX_AGE_S = 600.0  # access tokens live 15 minutes


def loopback(url: str) -> str:
    """The same URL on 127.0.0.1: test traffic never leaves the loopback address."""
    parts = urlsplit(url)
    netloc = parts.netloc.replace("localhost", "127.0.0.1")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def ws_url_of(edge_url: str) -> str:
    parts = urlsplit(loopback(edge_url))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, "/v1/ws", "", ""))


def strong_password() -> str:
    # 144 random bits: far above zxcvbn score 3, never a common password, never the username.
    return f"{secrets.token_urlsafe(18)}-Tz9"


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def eventually_answers(
    request: Callable[[], Awaitable[httpx.Response]], status: int, within_s: float
) -> httpx.Response:
    """Repeat a request until it answers `status` or `within_s` runs out (the last answer).

    For what reaches every service by an event (a revocation, a membership change): each one
    applies it when its own consumer gets it, a few milliseconds apart on a busy machine."""
    deadline = time.monotonic() + within_s
    while True:
        response = await request()
        if response.status_code == status or time.monotonic() >= deadline:
            return response
        await asyncio.sleep(0.05)


def assert_problem(
    response: httpx.Response, status: int | Iterable[int], code: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem with the given status(es), plain-words detail and, optionally, code."""
    statuses = {status} if isinstance(status, int) else set(status)
    where = f"{response.request.method} {response.request.url}"
    assert response.status_code in statuses, (
        f"{where}: wanted {sorted(statuses)}, got {response.status_code}: {response.text[:400]}"
    )
    ctype = response.headers.get("content-type", "")
    assert ctype.startswith(PROBLEM_TYPE), f"{where}: content-type {ctype!r}: {response.text[:200]}"
    body: dict[str, Any] = response.json()
    assert body.get("status") == response.status_code, f"{where}: {body}"
    assert isinstance(body.get("title"), str), f"{where}: no title in {body}"
    assert isinstance(body.get("detail"), str), f"{where}: no detail in {body}"
    assert body["detail"].strip(), f"{where}: empty detail"
    if code is not None:
        assert body.get("code") == code, f"{where}: code {body.get('code')!r}, wanted {code!r}"
    return body


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of an access token, read without verifying (the test only needs sid/sub)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class User:
    """A registered account, logged in once (`token`); REST helpers send its bearer token."""

    edge: Edge
    id: str
    username: str
    display_name: str
    password: str
    token: str = ""

    @property
    def session_id(self) -> str:
        return str(unverified_claims(self.token)["sid"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def request(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token if token is not None else self.token}"}
        headers.update(kwargs.pop("headers", None) or {})
        return await self.edge.http.request(method, path, headers=headers, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)

    async def patient(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """`request`, but a 429 `rate_limited` with a short Retry-After (a per-user limit of
        issue #20 met by the tests' shared pool users, who create rooms far faster than a
        person) is sent again after it, as a well-behaved client does."""
        for _ in range(RATE_LIMIT_RETRIES):
            r = await self.request(method, path, **kwargs)
            wait = _rate_limit_wait(r)
            if wait is None:
                return r
            await asyncio.sleep(wait)
        return await self.request(method, path, **kwargs)

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """The JSON body of a request that must succeed with `status` (None for 204)."""
        if status == 429:
            r = await self.request(method, path, **kwargs)
        else:
            r = await self.patient(method, path, **kwargs)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text[:400]}"
        return None if r.status_code == 204 else r.json()

    # --- rooms (api-v1 §4) ---------------------------------------------------------------

    async def create_room(self, name: str | None = None, visibility: str = "public") -> Any:
        body = await self.ok(
            "POST",
            "/v1/rooms",
            201,
            json={"name": name or unique_name("room"), "visibility": visibility},
        )
        return body["room"]

    async def join(self, room_id: str) -> Any:
        return (await self.ok("POST", f"/v1/rooms/{room_id}/members", json={}))["room"]

    async def invite(self, room_id: str, user_id: str) -> Any:
        body = await self.ok("POST", f"/v1/rooms/{room_id}/members", json={"user_id": user_id})
        return body["room"]

    async def leave(self, room_id: str) -> None:
        """Leave a room (tidying up after a test: pooled users should not pile up rooms)."""
        r = await self.delete(f"/v1/rooms/{room_id}/members/me")
        assert r.status_code in (204, 404), f"leave: {r.status_code} {r.text[:200]}"

    async def leave_all_channels(self) -> None:
        rooms = (await self.ok("GET", "/v1/rooms"))["rooms"]
        for room in rooms:
            if room["kind"] == "channel":
                await self.leave(str(room["id"]))

    async def room(self, room_id: str) -> Any:
        return (await self.ok("GET", f"/v1/rooms/{room_id}"))["room"]

    async def send_rest(self, room_id: str, text: str, client_msg_id: str | None = None) -> Any:
        r = await self.patient(
            "POST",
            f"/v1/rooms/{room_id}/messages",
            json={"client_msg_id": client_msg_id or str(uuid.uuid4()), "text": text},
        )
        assert r.status_code in (200, 201), f"send: {r.status_code} {r.text[:400]}"
        return r.json()["message"]

    async def history(self, room_id: str, after_seq: int = 0) -> list[Message]:
        """Every message after `after_seq`, following `has_more` page by page."""
        messages: list[Message] = []
        while True:
            body = await self.ok(
                "GET",
                f"/v1/rooms/{room_id}/messages",
                params={"after_seq": after_seq, "limit": HISTORY_PAGE},
            )
            page: list[Message] = body["messages"]
            messages.extend(page)
            if not body["has_more"] or not page:
                return messages
            after_seq = int(page[-1]["seq"])

    async def open_dm(self, other_id: str, wait_s: float = 5.0) -> Any:
        """POST /v1/dms; message-service learns new users from an event, so a user registered a
        moment ago may be unknown for a short while: retry `user_not_found` until `wait_s`."""
        deadline = time.monotonic() + wait_s
        while True:
            r = await self.patient("POST", "/v1/dms", json={"user_id": other_id})
            if r.status_code == 200:
                return r.json()["room"]
            if r.status_code != 404 or time.monotonic() > deadline:
                raise AssertionError(f"POST /v1/dms: {r.status_code} {r.text[:400]}")
            await asyncio.sleep(0.1)

    # --- sockets ---------------------------------------------------------------------------

    def socket(self, **kwargs: Any) -> contextlib.AbstractAsyncContextManager[Socket]:
        return open_socket(self.edge.ws_url, self.token, **kwargs)


RATE_LIMIT_RETRIES = 5
RATE_LIMIT_MAX_WAIT_S = 10


def _rate_limit_wait(r: httpx.Response) -> int | None:
    """Seconds to wait before sending a request refused by a per-user limit again, or None."""
    if r.status_code != 429 or not r.headers.get("retry-after", "").isdigit():
        return None
    try:
        code = r.json().get("code")
    except ValueError:
        return None
    wait = int(r.headers["retry-after"])
    return wait if code == "rate_limited" and wait <= RATE_LIMIT_MAX_WAIT_S else None


@dataclass
class Edge:
    """The product as a client sees it: one origin (HTTP and WebSocket)."""

    url: str
    http: httpx.AsyncClient
    ws_url: str

    async def register(self, prefix: str = "e2e", display_name: str | None = None) -> User:
        username = unique_name(prefix)[:32]
        password = strong_password()
        r = await self.http.post(
            "/v1/auth/register",
            json={
                "username": username,
                "display_name": display_name or f"Test {username}",
                "password": password,
            },
        )
        assert r.status_code == 201, f"register: {r.status_code} {r.text[:400]}"
        user = r.json()["user"]
        return User(self, user["id"], user["username"], user["display_name"], password)

    async def login_response(self, username: str, password: str, **headers: str) -> httpx.Response:
        return await self.http.post(
            "/v1/auth/login",
            json={"username": username, "password": password},
            headers={**JSON_HEADERS, **headers},
        )

    async def login(self, user: User) -> str:
        """Log `user` in (a new session), store and return the access token."""
        r = await self.login_response(user.username, user.password)
        assert r.status_code == 200, f"login: {r.status_code} {r.text[:400]}"
        body = r.json()
        assert body["token_type"].lower() == "bearer"
        user.token = body["access_token"]
        return user.token

    async def new_user(self, prefix: str = "e2e") -> User:
        user = await self.register(prefix)
        await self.login(user)
        return user

    async def new_users(self, count: int, prefix: str = "e2e") -> list[User]:
        # A few at a time: each registration and login costs an argon2 hash on a small machine.
        users: list[User] = []
        for start in range(0, count, 4):
            batch = min(4, count - start)
            users.extend(await asyncio.gather(*(self.new_user(prefix) for _ in range(batch))))
        return users

    async def pooled_users(self, count: int) -> list[User]:
        """`count` logged-in users shared by the tests that only need *some* members.

        Registration is throttled per client address (api-v1 §3: 100 per 15 minutes, each costs
        a hash) and every test reaches the edge from 127.0.0.1, so these accounts are kept in
        var/e2e/ and reused across test runs against the same stack (a successful login costs
        no throttle budget). Each call gets fresh User objects with a token under 10 minutes old.
        """
        pool = await self._load_pool()
        added = False
        while len(pool) < count:
            pool.extend(await self.new_users(min(4, count - len(pool)), "pool"))
            added = True
        if added:
            _save_pool(self.url, pool)
        users: list[User] = []
        for account in pool[:count]:
            issued = unverified_claims(account.token)["iat"] if account.token else 0
            if time.time() - issued > POOL_TOKEN_MAX_AGE_S:
                await self.login(account)
            user = User(self, account.id, account.username, account.display_name, account.password)
            user.token = account.token
            users.append(user)
        return users

    async def _load_pool(self) -> list[User]:
        if self.url in _POOL:
            return _POOL[self.url]
        pool = [
            User(self, a["id"], a["username"], a["display_name"], a["password"])
            for a in _read_pool_file(self.url)
        ]
        if pool:
            # Another stack (fresh databases) does not know these accounts: one login tells,
            # and only one failure is counted against this address's login budget.
            r = await self.login_response(pool[0].username, pool[0].password)
            if r.status_code == 200:
                pool[0].token = r.json()["access_token"]
            else:
                pool = []
        _POOL[self.url] = pool
        return pool

    async def logout(self, token: str) -> httpx.Response:
        return await self.http.post(
            "/v1/auth/logout",
            headers={**JSON_HEADERS, "Authorization": f"Bearer {token}"},
            content=b"{}",
        )


@contextlib.asynccontextmanager
async def open_edge(edge_url: str, *, timeout: float = 15.0) -> AsyncIterator[Edge]:
    base = loopback(edge_url)
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    # No cookies at all: every login is its own session (as in separate browsers) and a
    # bearer request is never helped by a refresh cookie of another user.
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    async with httpx.AsyncClient(
        base_url=base, timeout=timeout, trust_env=False, limits=limits, cookies=no_cookies
    ) as http:
        yield Edge(url=base, http=http, ws_url=ws_url_of(edge_url))


# Users of `Edge.pooled_users`, per edge URL, for the whole test process (and in var/e2e/).
_POOL: dict[str, list[User]] = {}


def _pool_file(edge_url: str) -> Path:
    from chat_devtools.config import find_repo_root

    netloc = urlsplit(edge_url).netloc.replace(":", "_")
    return find_repo_root() / "var" / "e2e" / f"pool-{netloc}.json"


def _read_pool_file(edge_url: str) -> list[dict[str, str]]:
    path = _pool_file(edge_url)
    try:
        accounts: list[dict[str, str]] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return []
    return accounts


def _save_pool(edge_url: str, pool: list[User]) -> None:
    path = _pool_file(edge_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    accounts = [
        {"id": u.id, "username": u.username, "display_name": u.display_name, "password": u.password}
        for u in pool
    ]
    # Test accounts of a local stack only, still not world-readable.
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(accounts))
    tmp.chmod(0o600)
    tmp.replace(path)


# --- WebSocket -------------------------------------------------------------------------------


class SocketClosed(AssertionError):
    """The socket closed while a frame was still awaited."""


@dataclass
class Socket:
    """One WebSocket session. A reader task collects every frame; `wait_for` takes them."""

    ws: ClientConnection
    frames: list[Frame] = field(default_factory=list)  # everything received, in order
    ready: Frame = field(default_factory=dict)
    _unclaimed: list[Frame] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None
    close_code: int | None = None
    closed_at: float | None = None  # time.monotonic() when the close was seen

    # --- reading -------------------------------------------------------------------------

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = orjson.loads(raw)
                async with self._changed:
                    self.frames.append(frame)
                    self._unclaimed.append(frame)
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = time.monotonic()
            code = self.ws.close_code
            self.close_code = code if code is not None else 1006
            async with self._changed:
                self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    async def wait_for(
        self,
        type_: str,
        predicate: FramePredicate | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Frame:
        """The oldest not yet taken frame of `type_` matching `predicate`; waits up to timeout."""

        def take() -> Frame | None:
            for i, frame in enumerate(self._unclaimed):
                if frame.get("type") == type_ and (predicate is None or predicate(frame)):
                    return self._unclaimed.pop(i)
            return None

        async def wait() -> Frame:
            async with self._changed:
                while True:
                    found = take()
                    if found is not None:
                        return found
                    if self.closed:
                        raise SocketClosed(
                            f"socket closed ({self.close_code}) while waiting for {type_!r}; "
                            f"last frames: {self.frames[-5:]}"
                        )
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no {type_!r} frame within {timeout}s; last frames: {self.frames[-5:]}"
            ) from None

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT_S) -> int:
        """The close code the server sent (1006 when the connection just dropped)."""
        task = self._reader
        assert task is not None
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            raise AssertionError(
                f"socket still open after {timeout}s; last frames: {self.frames[-5:]}"
            ) from None
        assert self.close_code is not None
        return self.close_code

    async def wait_change(self, timeout: float) -> None:
        """Return when a frame arrives or the socket closes (or after `timeout`)."""
        with contextlib.suppress(TimeoutError):
            async with self._changed:
                await asyncio.wait_for(self._changed.wait(), timeout)

    def of_type(self, type_: str) -> list[Frame]:
        return [f for f in self.frames if f.get("type") == type_]

    # --- writing -------------------------------------------------------------------------

    async def send(self, frame: Frame) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def send_message(self, room_id: str, text: str, client_msg_id: str | None = None) -> str:
        """Send `message.send`; returns the client_msg_id (to await its ack or to retry)."""
        cmid = client_msg_id or str(uuid.uuid4())
        await self.send(
            {"type": "message.send", "client_msg_id": cmid, "room_id": room_id, "text": text}
        )
        return cmid

    async def wait_ack(self, client_msg_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> Message:
        frame = await self.wait_for(
            "message.ack", lambda f: f.get("client_msg_id") == client_msg_id, timeout
        )
        message: Message = frame["message"]
        return message

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5.0)


async def connect_socket(
    ws_url: str,
    *,
    origin: str | None = None,
    open_timeout: float = DEFAULT_TIMEOUT_S,
) -> Socket:
    """Open the WebSocket (subprotocol chat.v1) and start collecting frames; no auth yet."""
    ws = await connect(
        ws_url,
        subprotocols=[SUBPROTOCOL],
        origin=Origin(origin) if origin else None,
        compression=None,
        open_timeout=open_timeout,
        max_size=2**20,
    )
    assert ws.subprotocol == SUBPROTOCOL, f"server selected {ws.subprotocol!r}"
    socket = Socket(ws)
    socket.start()
    return socket


async def authenticated_socket(
    ws_url: str, token: str, *, origin: str | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> Socket:
    """Connect, send the first-frame `auth` and wait for `ready`."""
    socket = await connect_socket(ws_url, origin=origin, open_timeout=timeout)
    try:
        await socket.send({"type": "auth", "token": token})
        socket.ready = await socket.wait_for("ready", timeout=timeout)
    except BaseException:
        await socket.close()
        raise
    return socket


@contextlib.asynccontextmanager
async def open_socket(
    ws_url: str, token: str, *, origin: str | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> AsyncIterator[Socket]:
    socket = await authenticated_socket(ws_url, token, origin=origin, timeout=timeout)
    try:
        yield socket
    finally:
        await socket.close()


# --- the client-side view (api-v1 §6 delivery rule) -------------------------------------------


@dataclass
class RoomView:
    """One room as a client shows it: messages by seq, merged from live frames and history.

    `conflicts` records any seq that arrived with two different messages, and `repeats` counts
    frames for a seq already held (allowed on the wire: live frames may arrive twice).
    """

    room_id: str
    by_seq: dict[int, Message] = field(default_factory=dict)
    conflicts: list[tuple[Message, Message]] = field(default_factory=list)
    repeats: int = 0
    from_live: int = 0
    from_history: int = 0

    def merge(self, message: Message, *, live: bool) -> None:
        seq = int(message["seq"])
        held = self.by_seq.get(seq)
        if held is None:
            self.by_seq[seq] = message
            if live:
                self.from_live += 1
            else:
                self.from_history += 1
        elif held["id"] != message["id"]:
            self.conflicts.append((held, message))
        else:
            self.repeats += 1

    @property
    def contiguous(self) -> int:
        """The highest seq such that 1..seq are all held."""
        seq = 0
        while seq + 1 in self.by_seq:
            seq += 1
        return seq

    @property
    def has_gap(self) -> bool:
        return bool(self.by_seq) and max(self.by_seq) != self.contiguous

    def messages(self) -> list[Message]:
        return [self.by_seq[s] for s in sorted(self.by_seq)]

    async def catch_up(self, user: User) -> int:
        """Fetch `after_seq=<highest contiguous>` and merge; returns how many were fetched."""
        fetched = await user.history(self.room_id, after_seq=self.contiguous)
        for message in fetched:
            self.merge(message, live=False)
        return len(fetched)


@dataclass
class ClientView:
    """Every room of one user, fed by the sockets it follows and by catch-up requests."""

    user: User
    rooms: dict[str, RoomView] = field(default_factory=dict)
    sockets: list[Socket] = field(default_factory=list)
    _seen: dict[int, int] = field(default_factory=dict)  # id(socket) -> frames absorbed

    def room(self, room_id: str) -> RoomView:
        return self.rooms.setdefault(room_id, RoomView(room_id))

    def follow(self, socket: Socket) -> None:
        """Take this socket's live frames into the view (e.g. the new socket after a reconnect)."""
        self.sockets.append(socket)
        self._seen.setdefault(id(socket), 0)

    def absorb_live(self) -> None:
        """Merge the `message.new` and `message.ack` frames not merged yet."""
        for socket in self.sockets:
            start = self._seen[id(socket)]
            frames = socket.frames[start:]
            self._seen[id(socket)] = start + len(frames)
            for frame in frames:
                if frame.get("type") in ("message.new", "message.ack"):
                    message = frame["message"]
                    self.room(str(message["room_id"])).merge(message, live=True)

    async def catch_up(self, room_ids: Iterable[str] | None = None) -> None:
        self.absorb_live()
        for room_id in list(room_ids if room_ids is not None else self.rooms):
            await self.room(room_id).catch_up(self.user)

    async def wait_live(
        self, room_id: str, last_seq: int, timeout: float = DEFAULT_TIMEOUT_S
    ) -> bool:
        """Wait until live frames alone hold 1..last_seq of the room (True) or time runs out."""
        deadline = time.monotonic() + timeout
        view = self.room(room_id)
        while True:
            self.absorb_live()
            if view.contiguous >= last_seq:
                return True
            remaining = deadline - time.monotonic()
            open_sockets = [s for s in self.sockets if not s.closed]
            if remaining <= 0 or not open_sockets:
                return False
            await open_sockets[-1].wait_change(min(remaining, 0.5))
