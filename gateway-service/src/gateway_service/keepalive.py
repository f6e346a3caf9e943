"""WebSocket keepalive for the whole process: one staggered sweep instead of a timer per socket.

uvicorn's keepalive gives every socket its own ping timer and pong deadline, and pings every
socket on a fixed period whether or not it is talking. Measured on this machine that was most of
an idle gateway's CPU (QA-006). Here one task visits every socket once per `sweep_s`, spread
evenly over that period, and pings only sockets that sent nothing for `idle_s` (any inbound
frame, the frontend's `ping` included, proves the peer alive); a socket that still sends nothing
`timeout_s` after its ping is closed with 1011, like uvicorn's ping timeout. So a dead peer is
closed within `idle_s + timeout_s + 2 * sweep_s` (55 s with the defaults) and a busy or
heartbeating client is never pinged at all.

The ping is a fixed, empty, pre-encoded frame written straight to the transport: the
websockets protocol object keeps no record of pings, and uvicorn writes its pending output at
once after every call, so nothing is interleaved. An unsolicited-looking pong is ignored by
uvicorn (no `pending_ping_payload`), which is what we want: the sweep learns liveness from
`data_received` alone.

The frontend's heartbeat `{"type":"ping"}` (every `heartbeat_s` on every idle socket) is answered
here too, once the session has registered its answerer (`PING_HOOK`): a complete, lone, masked
ping frame in one read is unmasked and matched, and the pre-encoded `pong` is written straight
back, without the websockets parser, the ASGI hand-off or a wake-up of the session's task. The
session's answerer still takes the frame from the rate limit and refuses when anything of the
session's own output is pending, so order and limits hold; anything else goes the normal way.

This subclasses uvicorn's websockets-sansio protocol and relies on its `start_keepalive` /
`stop_keepalive` / `keepalive_timeout` hooks, `conn`, `transport` and `close_sent`; the
integration tests run it under real uvicorn so an upgrade that changes them fails there.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from typing import Any, ClassVar

from chat_runtime.logging import get_logger
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from gateway_service.domain.frames import PING_BYTES, PONG, encode_text_frame

log = get_logger(__name__)

PING_FRAME = b"\x89\x00"  # FIN + opcode 0x9 (ping), unmasked, empty payload (RFC 6455 §5.5.2)
# The ASGI scope extension under which the protocol offers `write_frame` to the application.
FRAME_WRITER = "chat.frame_writer"
# ... and the one under which it takes the session's ping answerer (`set_ping_answerer`).
PING_HOOK = "chat.ping_hook"
PONG_FRAME = encode_text_frame(PONG.encode())
# A client frame is masked (RFC 6455 §5.3): FIN + text, mask bit + length, 4-byte key, payload.
_MASKED_PING_HEAD = bytes([0x81, 0x80 | len(PING_BYTES)])
_MASKED_PING_LEN = 2 + 4 + len(PING_BYTES)
_PING_INT = int.from_bytes(PING_BYTES, "big")
TICKS_PER_SWEEP = 10


class KeepaliveSweeper:
    """Tracks every open WebSocket of the process and pings/closes silent ones in one task."""

    def __init__(self, *, idle_s: float = 30.0, timeout_s: float = 15.0, sweep_s: float = 5.0):
        self.idle_s = idle_s
        self.timeout_s = timeout_s
        self.sweep_s = sweep_s
        self.sockets: set[KeepaliveProtocol] = set()
        self.pings_sent = 0
        self.timeouts = 0
        self.pings_answered = 0  # client `ping` frames answered by the protocol itself
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.idle_s > 0

    def add(self, proto: KeepaliveProtocol, now: float) -> None:
        proto.ka_quiet_since = now
        proto.ka_ping_at = 0.0
        proto.ka_heard = False
        self.sockets.add(proto)

    def discard(self, proto: KeepaliveProtocol) -> None:
        self.sockets.discard(proto)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="gateway-keepalive")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def visit(self, proto: KeepaliveProtocol, now: float) -> None:
        """One socket's check: the whole keepalive state machine (pure apart from the I/O)."""
        if proto.ka_heard:
            # Something arrived since the last visit (a frame, a pong): alive, quiet from now.
            proto.ka_heard = False
            proto.ka_quiet_since = now
            proto.ka_ping_at = 0.0
        elif proto.ka_ping_at:
            if now - proto.ka_ping_at >= self.timeout_s:
                self.timeouts += 1
                self.discard(proto)
                proto.keepalive_timeout()
        elif now - proto.ka_quiet_since >= self.idle_s and proto.send_keepalive_frame():
            proto.ka_ping_at = now
            self.pings_sent += 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = self.sweep_s / TICKS_PER_SWEEP
        while True:
            # One snapshot per sweep, visited in TICKS_PER_SWEEP slices: the work is spread
            # evenly instead of arriving as one burst, and sockets opened meanwhile wait for
            # the next sweep (they are not due before `idle_s` anyway).
            batch = list(self.sockets)
            step = max(1, math.ceil(len(batch) / TICKS_PER_SWEEP))
            for start in range(0, TICKS_PER_SWEEP * step, step):
                await asyncio.sleep(tick)
                now = loop.time()
                try:
                    for proto in batch[start : start + step]:
                        if proto in self.sockets:
                            self.visit(proto, now)
                except Exception:
                    log.exception("keepalive_sweep_failed")


# How long a socket whose frame was refused waits for the peer to close after our close frame.
CLOSE_LINGER_S = 2.0


class KeepaliveProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with its per-socket timers replaced by the sweep, and
    a direct write for frames encoded once for many sockets (`write_frame`)."""

    sweeper: ClassVar[KeepaliveSweeper]
    ka_quiet_since: float
    ka_ping_at: float
    ka_heard: bool
    ka_refused: bool
    ping_answerer: Callable[[], bool] | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ka_heard = False
        self.ka_refused = False
        self.ka_ping_at = 0.0
        self.ka_quiet_since = 0.0
        self.ping_answerer = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            # The ASGI task is created but has not run yet, so it sees this.
            scope["extensions"][FRAME_WRITER] = self.write_frame
            scope["extensions"][PING_HOOK] = self.set_ping_answerer

    def set_ping_answerer(self, answerer: Callable[[], bool] | None) -> None:
        """`answerer()` is asked for each ping this protocol could answer itself; True means
        "counted, answer it here", False sends the frame the normal way to the session."""
        self.ping_answerer = answerer

    def write_frame(self, frame: bytes) -> bool:
        """Write an encoded, unmasked data frame now, bypassing the ASGI `send` (a dict, an
        await, a per-socket frame encoding). Returns False, writing nothing, when the caller
        must use the ordinary path: the socket is closing or its transport is paused (the
        ordinary path waits for `resume_writing`, which is what bounds the transport buffer).
        uvicorn writes each ASGI send at once, so nothing it writes can be interleaved."""
        if (
            self.close_sent
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True

    def handle_parser_exception(self) -> None:
        """A frame the parser refused (over the size limit: 1009): send the close frame, then
        let the peer close. uvicorn closes the socket at once, and with the rest of the
        oversized frame still unread the kernel answers with a reset that can destroy the close
        frame written just before it (the client then sees no 1009). Whatever still arrives is
        dropped; the socket is closed when the peer closes, or after CLOSE_LINGER_S."""
        assert self.conn.close_sent is not None
        close = self.conn.close_sent
        self.queue.put_nowait(
            {"type": "websocket.disconnect", "code": close.code, "reason": close.reason}
        )
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.ka_refused = True
        self.close_timer = self.loop.call_later(CLOSE_LINGER_S, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self.ka_refused:
            return  # the rest of a refused frame: read and dropped until the socket closes
        self.ka_heard = True  # one store per read: the sweep turns it into liveness
        answerer = self.ping_answerer
        if (
            answerer is not None
            and len(data) == _MASKED_PING_LEN
            and self._is_lone_ping(data)
            and answerer()
        ):
            self.transport.write(PONG_FRAME)
            self.sweeper.pings_answered += 1
            return
        super().data_received(data)

    def _is_lone_ping(self, data: bytes) -> bool:
        """`data` is exactly one masked `{"type":"ping"}` frame, the parser is between frames
        (nothing buffered, no fragmented message open), and a direct write is allowed now."""
        if data[:2] != _MASKED_PING_HEAD:
            return False
        key = int.from_bytes((data[2:6] * 4)[: len(PING_BYTES)], "big")  # the key, repeated
        if int.from_bytes(data[6:], "big") ^ key != _PING_INT:
            return False
        conn = self.conn
        return (
            conn.state is State.OPEN
            and not conn.expect_continuation_frame
            and not conn.reader.buffer
            and self.queue.empty()  # every earlier frame has reached the session
            and not self.close_sent
            and self.writable.is_set()
            and not self.transport.is_closing()
        )

    def start_keepalive(self) -> None:
        if self.sweeper.enabled:
            self.sweeper.add(self, self.loop.time())

    def stop_keepalive(self) -> None:
        self.sweeper.discard(self)

    def send_keepalive_frame(self) -> bool:
        if self.close_sent or self.conn.state is not State.OPEN or self.transport.is_closing():
            return False
        self.transport.write(PING_FRAME)
        return True


def keepalive_protocol(sweeper: KeepaliveSweeper) -> type[KeepaliveProtocol]:
    """A protocol class bound to this process's sweeper (uvicorn instantiates it per socket)."""
    return type("GatewayWebSocketProtocol", (KeepaliveProtocol,), {"sweeper": sweeper})
