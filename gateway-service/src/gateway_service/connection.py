"""One WebSocket session: first-frame auth, then a reader loop and a byte-budgeted writer.

The reader handles client frames in order (so one client's sends reach the broker in the order
sent). Everything written to the socket goes through `send()`, which only queues and starts a
writer task when none runs: a reader that does not keep up grows `pending_bytes`, and past the
budget the socket is cut instead of memory. An idle socket has no task besides its ASGI one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from chat_runtime.logging import get_logger
from chat_runtime.messaging import shard_of

from gateway_service.domain import frames as f
from gateway_service.domain.ratelimit import RateLimiter, Verdict
from gateway_service.hub import CLOSE_UNAUTHORIZED, Gateway, claims_expiry, new_connection_id
from gateway_service.metrics import CLOSED, count_frame_in
from gateway_service.ports import Socket, Unauthorized, Unavailable

log = get_logger(__name__)

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # rate limit kept being exceeded; slow reader past its output budget
CLOSE_INTERNAL = 1011  # membership or bindings unavailable
WRITER_CLOSE_TIMEOUT_S = 5.0


class Session:
    def __init__(self, gateway: Gateway, socket: Socket) -> None:
        self.gateway = gateway
        self.socket = socket
        self.connection_id = new_connection_id()
        self.user_id = ""
        self.session_id = ""
        self.ready = False
        self.status = "online"
        self.pending_bytes = 0
        self._out: deque[tuple[str, int]] = deque()
        self._close: tuple[int, str] | None = None
        self._main: asyncio.Task[Any] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._abort_task: asyncio.Task[None] | None = None
        self._stopping_main = False
        self._announced = False
        self._awaiting_frame = False  # the reader is idle in receive(): nothing unhandled
        settings = gateway.settings
        self._limiter = RateLimiter.create(
            settings.rate_per_s,
            settings.rate_burst,
            gateway.monotonic(),
            settings.rate_close_after_s,
        )

    # --- output --------------------------------------------------------------------------------

    def send(self, text: str, size: int | None = None) -> None:
        """Queue a frame; never blocks. Cuts the socket when its output budget is exceeded.

        `size` is the frame's UTF-8 length when the caller knows it (fan-out measures once per
        event); otherwise the character count, exact for the ASCII frames the gateway makes.
        """
        if self._close is not None:
            return
        size = len(text) if size is None else size
        if self.pending_bytes + size > self.gateway.settings.max_pending_output_bytes:
            log.warning(
                "slow_consumer_disconnected",
                connection_id=self.connection_id,
                pending_bytes=self.pending_bytes,
            )
            CLOSED.labels("slow_consumer").inc()
            self._abort(CLOSE_POLICY, "slow consumer")
            return
        self._out.append((text, size))
        self.pending_bytes += size
        self._kick()

    def send_encoded(self, text: str, size: int, frame: bytes) -> None:
        """Fan-out path: `frame` is `text` already encoded as a WebSocket frame, shared by every
        recipient of one event. It goes straight to the transport when nothing is queued ahead
        of it; otherwise it is queued like any frame (order and output budget unchanged)."""
        if self._close is not None:
            return
        idle = not self._out and (self._writer is None or self._writer.done())
        if idle and self.socket.write_frame(frame):
            return
        self.send(text, size)

    def send_error(self, code: f.ErrorCode, message: str, ref: str | None) -> None:
        self.send(f.error_frame(f.FrameError(code, message, ref)))

    def _answer_ping(self) -> bool:
        """Asked by the server before it answers a `ping` itself (`Socket.answer_pings`):
        yes only when every earlier frame is handled, nothing of ours is waiting to be written
        (the `pong` keeps its place) and the frame fits the rate limit; otherwise the frame
        comes the normal way, which answers or refuses it."""
        if (
            not self._awaiting_frame
            or self._close is not None
            or self._out
            or (self._writer is not None and not self._writer.done())
            or not self._limiter.try_take(self.gateway.monotonic())
        ):
            return False
        count_frame_in("ping")
        return True

    async def _reply(self, text: str) -> None:
        """Answer the frame being read: written inline when nothing else is queued (no
        writer task per `pong`, the frontend's heartbeat on every idle socket), otherwise
        queued behind the rest like any frame."""
        writing = self._writer is not None and not self._writer.done()
        if self._close is not None or self._out or writing:
            self.send(text)
            return
        try:
            await self.socket.send_text(text)
        except Exception as exc:
            # The peer is gone: end the session as the writer does.
            log.debug("socket_write_ended", connection_id=self.connection_id, error=repr(exc))
            self._close = self._close or (CLOSE_NORMAL, "")

    def close(self, code: int, reason: str) -> None:
        """Close after what is already queued has been written (idempotent)."""
        if self._close is None:
            self._close = (code, reason)
            self._kick()

    def _kick(self) -> None:
        # A writer task exists only while there is output: idle sockets cost no task.
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())

    def _abort(self, code: int, reason: str) -> None:
        """Cut a socket whose peer stopped reading: free its output at once, stop deliveries.

        The writer is stuck waiting for the transport to drain, so it is cancelled; the close
        frame is attempted briefly (a peer that reads nothing never sees it, the transport is
        then closed when the session ends and the WebSocket ping timeout reaps the rest).
        """
        self._out.clear()
        self.pending_bytes = 0
        self._close = (code, reason)
        self.ready = False
        self.gateway.detach(self)
        self._abort_task = asyncio.create_task(self._abort_socket(code, reason))

    async def _abort_socket(self, code: int, reason: str) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(code, reason), 1.0)
        self._stop_main()

    @property
    def closing(self) -> bool:
        return self._close is not None

    async def _drain(self) -> None:
        """Write what is queued (new frames queued meanwhile included), then the close if asked."""
        try:
            while self._out:
                text, size = self._out.popleft()
                await self.socket.send_text(text)
                self.pending_bytes -= size
            if self._close is not None:
                code, reason = self._close
                await asyncio.wait_for(self.socket.close(code, reason), WRITER_CLOSE_TIMEOUT_S)
                self._stop_main()  # stop a reader still blocked in receive()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The peer is gone (ClientDisconnected, RuntimeError): that ends the session.
            log.debug("socket_write_ended", connection_id=self.connection_id, error=repr(exc))
            self._out.clear()
            self.pending_bytes = 0
            self._close = self._close or (CLOSE_NORMAL, "")
            self._stop_main()

    def _stop_main(self) -> None:
        if self._main is not None and not self._main.done() and not self._stopping_main:
            self._stopping_main = True
            self._main.cancel()

    # --- main ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the socket until it closes. The handshake (Origin, subprotocol) is done."""
        self._main = asyncio.current_task()
        try:
            if await self._authenticate():
                await self._read_loop()
        except asyncio.CancelledError:
            if not self._stopping_main:
                raise
            # We cancelled ourselves to stop reading after a close: not an error.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            self.socket.answer_pings(None)
            self._main = None  # from here on a finished writer must not cancel us
            self.ready = False
            self.gateway.detach(self)
            if self._announced:
                await self._publish_closed()
            self.close(CLOSE_NORMAL, "")
            writer = self._writer
            if writer is not None and not writer.done():
                try:
                    await asyncio.wait_for(asyncio.shield(writer), WRITER_CLOSE_TIMEOUT_S + 1)
                except (TimeoutError, asyncio.CancelledError):
                    writer.cancel()

    async def _receive_text(self) -> str | bytes | None:
        """The next data frame, or None when the peer disconnected."""
        message = await self.socket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        data = message.get("bytes")
        return bytes(data) if data is not None else b""

    async def _authenticate(self) -> bool:
        settings = self.gateway.settings
        try:
            raw = await asyncio.wait_for(self._receive_text(), settings.auth_timeout_s)
        except TimeoutError:
            self._refuse("No auth frame arrived in time.")
            return False
        if raw is None:
            return False
        frame = f.parse_frame(raw)
        if not isinstance(frame, f.AuthFrame):
            self._refuse('The first frame must be {"type": "auth", "token": ...}.')
            return False
        try:
            claims = await self.gateway.verifier.verify(frame.token)
        except Unauthorized:
            self._refuse("The access token is not valid.")
            return False
        except Unavailable:
            self.send_error("unavailable", "Sign-in cannot be checked now; retry soon.", "auth")
            self.close(CLOSE_INTERNAL, "unavailable")
            return False
        self.user_id = str(claims.user_id)
        self.session_id = str(claims.session_id)
        if self.gateway.clock() >= claims_expiry(claims):
            self._refuse("The access token is not valid.")
            return False
        try:
            await self.gateway.attach(self, claims)
        except Unavailable:
            self.send_error("unavailable", "The chat is unavailable; retry soon.", "auth")
            self.close(CLOSE_INTERNAL, "unavailable")
            return False
        if self.closing:  # revoked or expired while we were binding
            return True
        self.send(
            f.ready_frame(
                user_id=self.user_id,
                session_id=self.session_id,
                connection_id=self.connection_id,
                heartbeat_s=settings.ws_heartbeat_s,
                now=self.gateway.now(),
            )
        )
        self.gateway.mark_ready(self)
        self.socket.answer_pings(self._answer_ping)
        self._announced = True  # from here on a close must be announced too
        await self.gateway.publish_presence(
            "presence.connection.opened.v1",
            {
                "gateway_id": self.gateway.gateway_id,
                "connection_id": self.connection_id,
                "user_id": self.user_id,
                "status": self.status,
                "at": f.rfc3339(self.gateway.now()),
            },
        )
        return True

    def _refuse(self, message: str) -> None:
        CLOSED.labels("unauthorized").inc()
        self.send_error("unauthorized", message, "auth")
        self.close(CLOSE_UNAUTHORIZED, "unauthorized")

    async def _publish_closed(self) -> None:
        await self.gateway.publish_presence(
            "presence.connection.closed.v1",
            {
                "gateway_id": self.gateway.gateway_id,
                "connection_id": self.connection_id,
                "user_id": self.user_id,
                "at": f.rfc3339(self.gateway.now()),
            },
        )

    async def _read_loop(self) -> None:
        while not self.closing:
            self._awaiting_frame = True
            try:
                raw = await self._receive_text()
            finally:
                self._awaiting_frame = False
            if raw is None or self.closing:
                return
            verdict = self._limiter.check(self.gateway.monotonic())
            if verdict is Verdict.CLOSE:
                CLOSED.labels("rate_limit").inc()
                self.send_error("rate_limited", "Too many frames for too long.", None)
                self.close(CLOSE_POLICY, "rate limit")
                return
            frame = f.parse_frame(raw)
            if verdict is Verdict.REJECT:
                count_frame_in("rate_limited")
                ref = frame.ref if isinstance(frame, f.FrameError) else _ref_of(frame)
                self.send_error("rate_limited", "Too many frames; slow down.", ref)
                continue
            if isinstance(frame, f.FrameError):
                count_frame_in(frame.code)
                self.send(f.error_frame(frame))
                continue
            count_frame_in(frame.type)
            await self._handle(frame)

    # --- frames --------------------------------------------------------------------------------

    async def _handle(self, frame: f.ClientFrame) -> None:
        gw = self.gateway
        if isinstance(frame, f.PingFrame):
            await self._reply(f.PONG)
        elif isinstance(frame, f.MessageSendFrame):
            await self._message_send(frame)
        elif isinstance(frame, f.TypingFrame):
            room_id = str(frame.room_id)
            if gw.registry.is_member(self.user_id, room_id):
                # Transient by design: a lost typing signal does not matter, so no confirm.
                with contextlib.suppress(Unavailable):
                    await gw.bus.publish_event(
                        f"room.{room_id}.typing.v1",
                        "typing.v1",
                        {"room_id": room_id, "user_id": self.user_id},
                        transient=True,
                    )
        elif isinstance(frame, f.ReadFrame):
            await self._read(frame)
        elif isinstance(frame, f.PresenceSetFrame):
            gw.set_status(self, frame.status)
            await gw.publish_presence(
                "presence.connection.updated.v1",
                {
                    "gateway_id": gw.gateway_id,
                    "connection_id": self.connection_id,
                    "user_id": self.user_id,
                    "status": frame.status,
                    "at": f.rfc3339(gw.now()),
                },
            )
        elif isinstance(frame, f.PresenceSubscribeFrame):
            gw.subscriptions.replace(self.connection_id, (str(u) for u in frame.user_ids))
        elif isinstance(frame, f.AuthRefreshFrame):
            await self._refresh(frame)
        elif isinstance(frame, f.AuthFrame):
            self.send_error("bad_request", "This socket is already authenticated.", "auth")

    async def _message_send(self, frame: f.MessageSendFrame) -> None:
        gw = self.gateway
        room_id = str(frame.room_id)
        client_msg_id = str(frame.client_msg_id)
        if not await self._is_member(room_id, client_msg_id):
            return
        # Recorded before publishing: the created event can beat the publisher confirm.
        gw.pending.add(self.user_id, client_msg_id, self.connection_id, gw.clock())
        shard = shard_of(room_id, gw.settings.send_shards)
        try:
            await gw.bus.publish_command(
                f"message.send.v1.{shard}",
                "message.send.v1",
                {
                    "client_msg_id": client_msg_id,
                    "room_id": room_id,
                    "sender_id": self.user_id,
                    "session_id": self.session_id,
                    "text": frame.text,
                    "gateway_id": gw.gateway_id,
                    "connection_id": self.connection_id,
                },
            )
        except Unavailable:
            gw.pending.pop(self.user_id, client_msg_id)
            self.send_error(
                "unavailable", "The message could not be sent; retry it.", client_msg_id
            )

    async def _read(self, frame: f.ReadFrame) -> None:
        gw = self.gateway
        room_id = str(frame.room_id)
        if not await self._is_member(room_id, "read"):
            return
        shard = shard_of(room_id, gw.settings.send_shards)
        try:
            await gw.bus.publish_command(
                f"room.read.v1.{shard}",
                "room.read.v1",
                {"room_id": room_id, "user_id": self.user_id, "seq": frame.seq},
            )
        except Unavailable:
            self.send_error("unavailable", "The read position could not be saved.", "read")

    async def _is_member(self, room_id: str, ref: str) -> bool:
        """Membership check for a frame; answers the client itself when the answer is no."""
        try:
            if await self.gateway.confirm_membership(self.user_id, room_id):
                return True
        except Unavailable:
            self.send_error("unavailable", "Room membership cannot be checked now; retry.", ref)
            return False
        self.send_error("not_a_member", "You are not a member of this room.", ref)
        return False

    async def _refresh(self, frame: f.AuthRefreshFrame) -> None:
        try:
            claims = await self.gateway.verifier.verify(frame.token)
        except Unauthorized:
            self._refuse("The new access token is not valid.")
            return
        except Unavailable:
            # The current token still holds; the client may try again.
            self.send_error("unavailable", "The token cannot be checked now.", "auth.refresh")
            return
        if str(claims.user_id) != self.user_id:
            self._refuse("The new access token belongs to another user.")
            return
        self.gateway.refresh(self, claims)


def _ref_of(frame: f.ClientFrame) -> str:
    if isinstance(frame, f.MessageSendFrame):
        return str(frame.client_msg_id)
    return frame.type
