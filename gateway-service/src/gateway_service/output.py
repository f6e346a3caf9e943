"""A session's output: everything written to its socket, with a byte budget.

`send()` only queues and starts a writer task when none runs, so an idle socket has no task of
its own. A reader that does not keep up grows `pending_bytes`; past the budget the socket is cut
instead of memory. Two shortcuts skip the queue while nothing of ours waits in it (so order
holds): a fan-out frame written straight to the transport (`send_encoded`, ADR 0004) and the
answer to the frame being read, written inline (`reply`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from chat_runtime.logging import get_logger

from gateway_service.domain import frames as f
from gateway_service.domain.close_codes import CLOSE_NORMAL, CLOSE_POLICY
from gateway_service.metrics import CLOSED
from gateway_service.ports import Socket

log = get_logger(__name__)

WRITER_CLOSE_TIMEOUT_S = 5.0
ABORT_CLOSE_TIMEOUT_S = 1.0


class OutputWriter:
    """Queue, writer task and close of one socket.

    `on_cut` runs when the socket is cut for reading too slowly (the session stops taking
    deliveries); `on_end` when the socket is closed or the peer is gone (the session stops
    reading).
    """

    def __init__(
        self,
        socket: Socket,
        *,
        budget_bytes: int,
        connection_id: str,
        on_cut: Callable[[], None],
        on_end: Callable[[], None],
    ) -> None:
        self.socket = socket
        self.budget_bytes = budget_bytes
        self.connection_id = connection_id
        self.pending_bytes = 0
        self._on_cut = on_cut
        self._on_end = on_end
        self._out: deque[tuple[str, int]] = deque()
        self._close: tuple[int, str] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._abort_task: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        return self._close is not None

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing being written, no close asked: a frame written now keeps
        its place."""
        return (
            self._close is None and not self._out and (self._writer is None or self._writer.done())
        )

    # --- writing -------------------------------------------------------------------------------

    def send(self, text: str, size: int | None = None) -> None:
        """Queue a frame; never blocks. Cuts the socket when its output budget is exceeded.

        `size` is the frame's UTF-8 length when the caller knows it (fan-out measures once per
        event); otherwise the character count, exact for the ASCII frames the gateway makes.
        """
        if self._close is not None:
            return
        size = len(text) if size is None else size
        if self.pending_bytes + size > self.budget_bytes:
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

    async def reply(self, text: str) -> None:
        """Answer the frame being read: written inline when nothing else is queued (no
        writer task per `pong`, the frontend's heartbeat on every idle socket), otherwise
        queued behind the rest like any frame."""
        if not self.idle:
            self.send(text)
            return
        try:
            await self.socket.send_text(text)
        except Exception as exc:
            # The peer is gone: end the session as the writer does.
            log.debug("socket_write_ended", connection_id=self.connection_id, error=repr(exc))
            self._close = self._close or (CLOSE_NORMAL, "")

    # --- closing -------------------------------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Close after what is already queued has been written (idempotent)."""
        if self._close is None:
            self._close = (code, reason)
            self._kick()

    async def finish(self) -> None:
        """The session ends: close normally (unless a close was asked before) and give the
        writer a bounded time to get the rest out."""
        self.close(CLOSE_NORMAL, "")
        writer = self._writer
        if writer is not None and not writer.done():
            try:
                await asyncio.wait_for(asyncio.shield(writer), WRITER_CLOSE_TIMEOUT_S + 1)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()

    def _kick(self) -> None:
        # A writer task exists only while there is output: idle sockets cost no task.
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())

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
                self._on_end()  # stop a reader still blocked in receive()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The peer is gone (ClientDisconnected, RuntimeError): that ends the session.
            log.debug("socket_write_ended", connection_id=self.connection_id, error=repr(exc))
            self._out.clear()
            self.pending_bytes = 0
            self._close = self._close or (CLOSE_NORMAL, "")
            self._on_end()

    def _abort(self, code: int, reason: str) -> None:
        """Cut a socket whose peer stopped reading: free its output at once, stop deliveries.

        The writer is stuck waiting for the transport to drain, so it is cancelled; the close
        frame is attempted briefly (a peer that reads nothing never sees it, the transport is
        then closed when the session ends and the WebSocket ping timeout reaps the rest).
        """
        self._out.clear()
        self.pending_bytes = 0
        self._close = (code, reason)
        self._on_cut()
        self._abort_task = asyncio.create_task(self._abort_socket(code, reason))

    async def _abort_socket(self, code: int, reason: str) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(code, reason), ABORT_CLOSE_TIMEOUT_S)
        self._on_end()
