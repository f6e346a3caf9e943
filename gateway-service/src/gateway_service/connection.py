"""One WebSocket session: sign-in, then a reader loop over the frame-handler table.

The reader handles client frames in order (so one client's sends reach the broker in the order
sent). The parts live next door: `authenticator` (first frame, refresh), `frame_handlers` (one
function per frame type), `output` (queue, writer task, byte budget, direct writes). An idle
socket has no task besides its ASGI one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chat_contracts.types import ConnectionStatus

from gateway_service import authenticator
from gateway_service.domain import frames as f
from gateway_service.domain.close_codes import CLOSE_POLICY
from gateway_service.domain.ratelimit import RateLimiter, Verdict
from gateway_service.frame_handlers import FRAME_HANDLERS
from gateway_service.hub import Gateway, new_connection_id
from gateway_service.metrics import CLOSED, count_frame_in
from gateway_service.output import OutputWriter
from gateway_service.ports import Socket


class Session:
    """Implements `ports.SessionPort` for the gateway and the frame handlers."""

    def __init__(self, gateway: Gateway, socket: Socket, *, address: str = "") -> None:
        self.gateway = gateway
        self.socket = socket
        self.address = address
        self.connection_id = new_connection_id()
        self.user_id = ""
        self.session_id = ""
        self.ready = False
        self.status: ConnectionStatus = "online"
        self.output = OutputWriter(
            socket,
            budget_bytes=gateway.settings.max_pending_output_bytes,
            connection_id=self.connection_id,
            on_cut=self._cut,
            on_end=self._stop_reading,
        )
        self._main: asyncio.Task[Any] | None = None
        self._stopping_main = False
        self._awaiting_frame = False  # the reader is idle in receive(): nothing unhandled
        settings = gateway.settings
        self._limiter = RateLimiter.create(
            settings.rate_per_s,
            settings.rate_burst,
            gateway.monotonic(),
            settings.rate_close_after_s,
        )

    async def run(self) -> None:
        """Serve the socket until it closes. The handshake (Origin, subprotocol) is done."""
        self._main = asyncio.current_task()
        announced = False
        try:
            if await authenticator.sign_in(self.gateway, self, self._receive):
                self.socket.answer_pings(self._answer_ping)
                announced = True  # from here on a close must be announced too
                await self.gateway.presence.opened(self)
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
            if announced:
                await self.gateway.presence.closed(self)
            await self.output.finish()

    async def _receive(self) -> str | bytes | None:
        """The next data frame, or None when the peer disconnected."""
        message = await self.socket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        data = message.get("bytes")
        return bytes(data) if data is not None else b""

    async def _read_loop(self) -> None:
        gateway, output = self.gateway, self.output
        while not output.closing:
            self._awaiting_frame = True
            try:
                raw = await self._receive()
            finally:
                self._awaiting_frame = False
            if raw is None or output.closing:
                return
            verdict = self._limiter.check(gateway.monotonic())
            if verdict is Verdict.CLOSE:
                CLOSED.labels("rate_limit").inc()
                output.send_error("rate_limited", "Too many frames for too long.", None)
                output.close(CLOSE_POLICY, "rate limit")
                return
            frame = f.parse_frame(raw)
            if verdict is Verdict.REJECT:
                count_frame_in("rate_limited")
                ref = frame.ref if isinstance(frame, f.FrameError) else f.ref_of(frame)
                output.send_error("rate_limited", "Too many frames; slow down.", ref)
                continue
            if isinstance(frame, f.FrameError):
                count_frame_in(frame.code)
                output.send(f.error_frame(frame))
                continue
            count_frame_in(frame.type)
            await FRAME_HANDLERS[type(frame)](gateway, self, frame)

    def _answer_ping(self) -> bool:
        """Asked by the server before it answers a `ping` itself (`Socket.answer_pings`):
        yes only when every earlier frame is handled, nothing of ours is waiting to be written
        (the `pong` keeps its place) and the frame fits the rate limit; otherwise the frame
        comes the normal way, which answers or refuses it."""
        if (
            not self._awaiting_frame
            or not self.output.idle
            or not self._limiter.try_take(self.gateway.monotonic())
        ):
            return False
        count_frame_in("ping")
        return True

    def _cut(self) -> None:
        """The output budget was exceeded: no more deliveries to this socket."""
        self.ready = False
        self.gateway.detach(self)

    def _stop_reading(self) -> None:
        """The socket is closed or gone: stop a reader blocked in receive()."""
        if self._main is not None and not self._main.done() and not self._stopping_main:
            self._stopping_main = True
            self._main.cancel()
