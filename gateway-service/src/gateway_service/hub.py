"""The gateway process: local connections, their rooms and bindings, pending sends, presence.

One `Gateway` per process. Sessions (connection.py) call it for everything that touches shared
state or the broker; event handlers (bus.py) call it to reach local sockets. Shared state is only
touched from the event loop, so no locks are needed except the ordered binding worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chat_runtime.logging import get_logger

from gateway_service.domain.expiry import ExpiryQueue
from gateway_service.domain.frames import RESYNC, encode_text_frame, rfc3339
from gateway_service.domain.pending import PendingSends
from gateway_service.domain.presence import SubscriptionIndex
from gateway_service.domain.registry import BindingChange, Registry
from gateway_service.metrics import FRAMES_OUT
from gateway_service.ports import Claims, GatewayBus, Unavailable, Verifier
from gateway_service.settings import GatewaySettings

if TYPE_CHECKING:
    from gateway_service.connection import Session

log = get_logger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_GOING_AWAY = 1001


def claims_expiry(claims: Claims) -> float:
    """Epoch seconds of the token's expiry, whatever representation the verifier uses."""
    value = claims.expires_at
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class _Binder:
    """Applies bind/unbind operations strictly in the order the registry produced them.

    An unbind followed by a bind of the same key (last member left, another joined) must reach
    the broker in that order, so one worker performs them one after another.
    """

    def __init__(self, bus: GatewayBus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[tuple[str, str, asyncio.Future[None]]] = asyncio.Queue()
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-binder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def submit(self, change: BindingChange) -> list[asyncio.Future[None]]:
        """Queue the change; the futures resolve once each bind is confirmed."""
        loop = asyncio.get_running_loop()
        for key in change.unbind:
            fut: asyncio.Future[None] = loop.create_future()
            self._queue.put_nowait(("unbind", key, fut))
        binds = []
        for key in change.bind:
            fut = loop.create_future()
            self._in_flight[key] = fut
            self._queue.put_nowait(("bind", key, fut))
            binds.append(fut)
        return binds

    def in_flight(self, keys: Iterable[str]) -> list[asyncio.Future[None]]:
        return [f for k in keys if (f := self._in_flight.get(k)) is not None and not f.done()]

    async def _run(self) -> None:
        while True:
            op, key, fut = await self._queue.get()
            try:
                if op == "bind":
                    await self._bus.bind(key)
                else:
                    await self._bus.unbind(key)
            except Exception as exc:
                log.warning("binding_failed", op=op, key=key, error=repr(exc))
                if not fut.done():
                    fut.set_exception(Unavailable(f"{op} {key} failed"))
                    fut.exception()  # mark retrieved: nobody may be waiting for an unbind
            else:
                if not fut.done():
                    fut.set_result(None)
            finally:
                if self._in_flight.get(key) is fut:
                    del self._in_flight[key]


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        bus: GatewayBus,
        verifier: Verifier,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.verifier = verifier
        self.clock = clock
        self.monotonic = monotonic
        self.registry = Registry()
        self.pending = PendingSends(ttl_s=settings.pending_send_ttl_s)
        self.subscriptions = SubscriptionIndex()
        self.expiry = ExpiryQueue()
        self.sessions: dict[str, Session] = {}
        # The heartbeat's connection entries, kept up to date as sockets become ready, change
        # status or go, so a beat is one list copy instead of a scan of every connection.
        self._beat_entries: dict[str, dict[str, str]] = {}
        self._binder = _Binder(bus)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def gateway_id(self) -> str:
        return self.settings.gateway_id

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._binder.start()
        self._tasks = [
            asyncio.create_task(self._sweep_loop(), name="gateway-sweep"),
            asyncio.create_task(self._heartbeat_loop(), name="gateway-heartbeat"),
        ]

    async def stop(self) -> None:
        for session in list(self.sessions.values()):
            session.close(CLOSE_GOING_AWAY, "server shutting down")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._binder.stop()

    # --- connections ---------------------------------------------------------------------------

    async def attach(self, session: Session, claims: Claims) -> None:
        """Register an authenticated socket; returns once all its bindings are confirmed.

        Raises Unavailable (the caller closes 1011) when membership or a binding fails.
        """
        user_id = session.user_id
        self.sessions[session.connection_id] = session
        waits = self._binder.submit(
            self.registry.add_connection(session.connection_id, user_id, session.session_id)
        )
        try:
            # The user key first: a join that happens while we ask for the rooms still reaches us.
            waits += self._binder.in_flight([f"user.{user_id}.#"])
            await asyncio.gather(*waits)
            rooms = await self.bus.membership(user_id, self.settings.membership_timeout_s)
            waits = self._binder.submit(self.registry.add_rooms(user_id, rooms))
            user_rooms = self.registry.user_rooms.get(user_id, set())
            waits += self._binder.in_flight(f"room.{r}.#" for r in user_rooms)
            await asyncio.gather(*waits)
        except BaseException:
            self.detach(session)
            raise
        self.expiry.set(session.connection_id, claims_expiry(claims))

    def detach(self, session: Session) -> None:
        """Forget a socket (idempotent); publishes nothing (the session does that)."""
        connection_id = session.connection_id
        if self.sessions.get(connection_id) is not session:
            return
        del self.sessions[connection_id]
        self._beat_entries.pop(connection_id, None)
        self.pending.drop_connection(connection_id)
        self.subscriptions.remove(connection_id)
        self.expiry.discard(connection_id)
        self._binder.submit(self.registry.remove_connection(connection_id))

    def mark_ready(self, session: Session) -> None:
        """The socket got `ready`: from now on the heartbeat carries it."""
        session.ready = True
        if self.sessions.get(session.connection_id) is session:
            self._beat_entries[session.connection_id] = {
                "connection_id": session.connection_id,
                "user_id": session.user_id,
                "status": session.status,
            }

    def set_status(self, session: Session, status: str) -> None:
        session.status = status
        self.registry.set_status(session.connection_id, status)
        entry = self._beat_entries.get(session.connection_id)
        if entry is not None:
            entry["status"] = status

    def refresh(self, session: Session, claims: Claims) -> None:
        if str(claims.session_id) != session.session_id:
            self.registry.change_session(session.connection_id, str(claims.session_id))
            session.session_id = str(claims.session_id)
        self.expiry.set(session.connection_id, claims_expiry(claims))

    async def join_room(self, user_id: str, room_id: str) -> None:
        await asyncio.gather(*self._binder.submit(self.registry.add_rooms(user_id, [room_id])))

    async def confirm_membership(self, user_id: str, room_id: str) -> bool:
        """Is the user in the room? Asks message-service when the local view says no.

        The local view learns joins from `user.<id>.room.joined.v1`, which can arrive after the
        REST answer that created the room or the DM; a client that sends at once must not be
        refused. Raises Unavailable when message-service does not answer.
        """
        if self.registry.is_member(user_id, room_id):
            return True
        rooms = await self.bus.membership(user_id, self.settings.membership_timeout_s)
        if room_id not in rooms:
            return False
        await self.join_room(user_id, room_id)
        return True

    def leave_room(self, user_id: str, room_id: str) -> None:
        self._binder.submit(self.registry.remove_room(user_id, room_id))

    # --- delivery ------------------------------------------------------------------------------

    def deliver(self, connection_ids: Iterable[str], text: str) -> int:
        """Write the same frame to each ready local connection; returns how many. The frame is
        encoded once (UTF-8, then as a WebSocket frame) for all of them."""
        count = 0
        data = b""
        frame = b""
        for connection_id in connection_ids:
            session = self.sessions.get(connection_id)
            if session is not None and session.ready:
                if not frame:
                    data = text.encode()
                    frame = encode_text_frame(data)
                session.send_encoded(text, len(data), frame)
                count += 1
        FRAMES_OUT.inc(count)
        return count

    def close_session_id(self, session_id: str, code: int, reason: str) -> int:
        targets = self.registry.connections_of_session(session_id)
        for connection_id in targets:
            session = self.sessions.get(connection_id)
            if session is not None:
                session.close(code, reason)
        return len(targets)

    async def resync(self) -> None:
        """The broker came back: re-create queue and bindings, then tell every socket."""
        await self.bus.redeclare(self.registry.binding_keys())
        count = self.deliver(list(self.sessions), RESYNC)
        log.info("gateway_resynced", sockets=count)

    # --- presence ------------------------------------------------------------------------------

    async def publish_presence(self, type_name: str, body: dict[str, Any]) -> None:
        """Presence signals are persistent + confirmed; a failure is only logged because the
        next heartbeat carries the full truth anyway."""
        try:
            await self.bus.publish_event(type_name, type_name, body)
        except Unavailable as exc:
            log.warning("presence_publish_failed", type=type_name, error=str(exc))

    def heartbeat_body(self) -> dict[str, Any]:
        # Encoded at once by the publisher, so sharing the entry dicts is safe.
        connections = list(self._beat_entries.values())
        return {
            "gateway_id": self.gateway_id,
            "sent_at": rfc3339(self.now()),
            "interval_s": _number(self.settings.heartbeat_interval_s),
            "connections": connections,
        }

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.bus.publish_heartbeat(self.heartbeat_body())
            except Unavailable as exc:
                log.warning("heartbeat_publish_failed", error=str(exc))
            except Exception:
                log.exception("heartbeat_failed")
            await asyncio.sleep(self.settings.heartbeat_interval_s)

    # --- sweeping (token expiry, forgotten pending sends) ---------------------------------------

    def sweep(self) -> None:
        for connection_id in self.expiry.due(self.clock()):
            session = self.sessions.get(connection_id)
            if session is not None:
                session.send_error("unauthorized", "Your access token expired.", "auth.refresh")
                session.close(CLOSE_UNAUTHORIZED, "token expired")
        self.pending.expire(self.clock())

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                self.sweep()
            except Exception:
                log.exception("sweep_failed")


def _number(value: float) -> float | int:
    """10.0 travels as 10 (the documented value), a fractional test interval as itself."""
    return int(value) if value == int(value) else value


def new_connection_id() -> str:
    return str(uuid.uuid4())
