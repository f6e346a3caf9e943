"""The gateway process: local connections, their rooms and bindings, pending sends, delivery.

One `Gateway` per process. Sessions (connection.py) call it for everything that touches shared
state or the broker; event handlers (events.py) call it to reach local sockets. It knows a
session only through `ports.SessionPort`. Shared state is only touched from the event loop, so
no locks are needed except the ordered binding worker (binder.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from chat_runtime.logging import get_logger

from gateway_service.binder import Binder
from gateway_service.domain.close_codes import CLOSE_GOING_AWAY, CLOSE_UNAUTHORIZED
from gateway_service.domain.expiry import ExpiryQueue
from gateway_service.domain.frames import RESYNC, encode_text_frame
from gateway_service.domain.pending import PendingSends
from gateway_service.domain.presence import SubscriptionIndex
from gateway_service.domain.registry import Registry, room_key, user_key
from gateway_service.domain.typing_gate import TypingGate
from gateway_service.drain import Drainer
from gateway_service.metrics import FRAMES_OUT
from gateway_service.ports import Claims, GatewayBus, SessionPort, Verifier
from gateway_service.presence_signals import PresenceSignals
from gateway_service.settings import GatewaySettings

log = get_logger(__name__)


def claims_expiry(claims: Claims) -> float:
    """Epoch seconds of the token's expiry, whatever representation the verifier uses."""
    value = claims.expires_at
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def new_connection_id() -> str:
    return str(uuid.uuid4())


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
        self.sessions: dict[str, SessionPort] = {}
        self.presence = PresenceSignals(
            bus,
            gateway_id=settings.gateway_id,
            interval_s=settings.heartbeat_interval_s,
            now=self.now,
        )
        self.binder = Binder(bus)
        self.typing_gate = TypingGate(settings.typing_min_interval_s)
        self.drainer = Drainer(
            self,
            max_s=settings.drain_max_s,
            reconnects_per_s=settings.drain_reconnects_per_s,
        )

    @property
    def gateway_id(self) -> str:
        return self.settings.gateway_id

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # --- lifecycle -----------------------------------------------------------------------------

    # Its background work (the service host runs and cancels it): `binder.run()`,
    # `run_sweep()` and `presence.run_heartbeat()`.

    async def drain(self) -> None:
        """Before a stop: every socket told when to reconnect, and closed then (drain.py)."""
        await self.drainer.drain()

    def close_all(self) -> None:
        """The server shuts down: every socket closes 1001 after its queued output."""
        for session in list(self.sessions.values()):
            session.output.close(CLOSE_GOING_AWAY, "server shutting down")

    # --- connections ---------------------------------------------------------------------------

    async def attach(self, session: SessionPort, claims: Claims) -> None:
        """Register an authenticated socket; returns once all its bindings are confirmed.

        Raises Unavailable (the caller closes 1011) when membership or a binding fails.
        """
        user_id = session.user_id
        self.sessions[session.connection_id] = session
        waits = self.binder.submit(
            self.registry.add_connection(session.connection_id, user_id, session.session_id)
        )
        try:
            # The user key first: a join that happens while we ask for the rooms still reaches us.
            waits += self.binder.in_flight([user_key(user_id)])
            await asyncio.gather(*waits)
            rooms = await self.bus.membership(user_id, self.settings.membership_timeout_s)
            waits = self.binder.submit(self.registry.add_rooms(user_id, rooms))
            user_rooms = self.registry.user_rooms.get(user_id, set())
            waits += self.binder.in_flight(room_key(r) for r in user_rooms)
            await asyncio.gather(*waits)
        except BaseException:
            self.detach(session)
            raise
        self.expiry.set(session.connection_id, claims_expiry(claims))

    def at_socket_cap(self, user_id: str) -> bool:
        """The user has `max_sockets_per_user` sockets here already (api-v1.1 F): signed in
        ones and ones still binding."""
        sockets = len(self.registry.user_connections.get(user_id, ()))
        return sockets >= self.settings.max_sockets_per_user

    def detach(self, session: SessionPort) -> None:
        """Forget a socket (idempotent); publishes nothing (the session does that)."""
        connection_id = session.connection_id
        if self.sessions.get(connection_id) is not session:
            return
        del self.sessions[connection_id]
        self.presence.forget(connection_id)
        self.pending.drop_connection(connection_id)
        self.subscriptions.remove(connection_id)
        self.expiry.discard(connection_id)
        self.binder.submit(self.registry.remove_connection(connection_id))

    def mark_ready(self, session: SessionPort) -> None:
        """The socket got `ready`: from now on deliveries and the heartbeat include it."""
        session.ready = True
        if self.sessions.get(session.connection_id) is session:
            self.presence.track(session)

    def refresh(self, session: SessionPort, claims: Claims) -> None:
        if str(claims.session_id) != session.session_id:
            self.registry.change_session(session.connection_id, str(claims.session_id))
            session.session_id = str(claims.session_id)
        self.expiry.set(session.connection_id, claims_expiry(claims))

    async def join_room(self, user_id: str, room_id: str) -> None:
        await asyncio.gather(*self.binder.submit(self.registry.add_rooms(user_id, [room_id])))

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
        self.binder.submit(self.registry.remove_room(user_id, room_id))

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
                session.output.send_encoded(text, len(data), frame)
                count += 1
        FRAMES_OUT.inc(count)
        return count

    def close_revoked(self, session_id: str) -> None:
        """A revocation listener (`RevocationSet.listeners`): the session ended, so its
        sockets close 4401 at once (their tokens are refused from now on anyway)."""
        targets = self.registry.connections_of_session(session_id)
        for connection_id in targets:
            session = self.sessions.get(connection_id)
            if session is not None:
                session.output.close(CLOSE_UNAUTHORIZED, "session revoked")
        if targets:
            log.info("revoked_session_closed", session_id=session_id, sockets=len(targets))

    async def resync(self) -> None:
        """The broker came back: re-create queue and bindings, then tell every socket."""
        await self.bus.redeclare(self.registry.binding_keys())
        count = self.deliver(list(self.sessions), RESYNC)
        log.info("gateway_resynced", sockets=count)

    # --- sweeping (token expiry, forgotten pending sends) ---------------------------------------

    def sweep(self) -> None:
        for connection_id in self.expiry.due(self.clock()):
            session = self.sessions.get(connection_id)
            if session is not None:
                output = session.output
                output.send_error("unauthorized", "Your access token expired.", "auth.refresh")
                output.close(CLOSE_UNAUTHORIZED, "token expired")
        self.pending.expire(self.clock())

    async def run_sweep(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                self.sweep()
            except Exception:
                log.exception("sweep_failed")
