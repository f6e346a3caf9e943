"""The keepalive sweep under real uvicorn: silent peers are pinged, then closed 1011 when they
do not answer; peers that answer, or talk, stay. A raw socket client, so the test controls
exactly which control frames go back (a websockets client would answer pings by itself)."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
import uuid
from typing import Any

import orjson
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

FAST = {"ws_ping_idle_s": 0.4, "ws_ping_timeout_s": 0.4, "ws_keepalive_sweep_s": 0.1}
PING, PONG, TEXT, CLOSE = 0x9, 0xA, 0x1, 0x8


def masked(opcode: int, payload: bytes) -> bytes:
    """One final client frame (masked, as RFC 6455 requires of clients), payload < 64 KiB."""
    assert len(payload) < 65536
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        head = bytes([0x80 | opcode, 0x80 | len(payload)])
    else:  # a signed token does not fit the 7-bit length
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", len(payload))
    return head + mask + body


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, token: str) -> tuple[RawClient, dict[str, Any]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat.v1\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        client = cls(reader, writer)
        client.send(TEXT, orjson.dumps({"type": "auth", "token": token}))
        opcode, payload = await client.frame()
        assert opcode == TEXT
        ready: dict[str, Any] = orjson.loads(payload)
        assert ready["type"] == "ready", ready
        return client, ready

    def send(self, opcode: int, payload: bytes = b"") -> None:
        self.writer.write(masked(opcode, payload))

    async def frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """The next frame from the server; (-1, b"") at EOF."""
        try:
            head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        except asyncio.IncompleteReadError:
            return -1, b""
        length = head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        return head[0] & 0x0F, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def test_silent_peer_is_pinged_then_closed_1011(gw_stack: Any) -> None:
    user = str(uuid.uuid4())
    gw_stack.rooms[user] = []
    async with gw_stack.another_gateway(**FAST) as (_, port):
        client, _ = await RawClient.open(port, gw_stack.tokens.issue(user))
        try:
            opcode, payload = await client.frame()
            assert (opcode, payload) == (PING, b"")
            pinged = time.monotonic()
            opcode, payload = await client.frame()  # no pong goes back
            assert opcode == CLOSE
            assert struct.unpack("!H", payload[:2])[0] == 1011
            assert 0.3 <= time.monotonic() - pinged < 2.0
            assert (await client.frame())[0] == -1  # and the transport is closed
        finally:
            client.close()


async def test_peer_answering_pings_stays_open(gw_stack: Any) -> None:
    user = str(uuid.uuid4())
    gw_stack.rooms[user] = []
    async with gw_stack.another_gateway(**FAST) as (_, port):
        client, _ = await RawClient.open(port, gw_stack.tokens.issue(user))
        try:
            for _ in range(3):  # three rounds: well past one ping timeout each
                opcode, _payload = await client.frame()
                assert opcode == PING
                client.send(PONG)
            client.send(TEXT, b'{"type":"ping"}')
            assert await client.frame() == (TEXT, b'{"type":"pong"}')
        finally:
            client.close()


async def test_talking_peer_is_not_pinged(gw_stack: Any) -> None:
    """The frontend's own `ping` frame every heartbeat_s is proof enough: no server pings."""
    user = str(uuid.uuid4())
    gw_stack.rooms[user] = []
    async with gw_stack.another_gateway(**FAST) as (_, port):
        client, _ = await RawClient.open(port, gw_stack.tokens.issue(user))
        try:
            seen = []
            for _ in range(8):  # 1.6 s: four idle periods of 0.4 s
                client.send(TEXT, b'{"type":"ping"}')
                seen.append(await client.frame())
                await asyncio.sleep(0.2)
            assert seen == [(TEXT, b'{"type":"pong"}')] * 8
        finally:
            client.close()


async def test_ping_is_answered_by_the_protocol_and_keeps_its_place(gw_stack: Any) -> None:
    """A lone `ping` frame is answered without waking the session (counted by the sweeper);
    one that arrives split, or behind another frame in the same read, goes the normal way
    and is answered in order."""
    user = str(uuid.uuid4())
    gw_stack.rooms[user] = []
    async with gw_stack.another_gateway() as (app, port):
        sweeper = app.api.state.keepalive
        client, _ = await RawClient.open(port, gw_stack.tokens.issue(user))
        try:
            # The first may find the session still announcing the socket: the normal way.
            client.send(TEXT, b'{"type":"ping"}')
            assert await client.frame() == (TEXT, b'{"type":"pong"}')
            before = sweeper.pings_answered
            for _ in range(3):
                client.send(TEXT, b'{"type":"ping"}')
                assert await client.frame() == (TEXT, b'{"type":"pong"}')
            assert sweeper.pings_answered - before == 3

            client.send(TEXT, b'{"type":"nope"}')  # the error must come before the pong
            client.send(TEXT, b'{"type":"ping"}')
            opcode, payload = await client.frame()
            assert opcode == TEXT
            assert orjson.loads(payload)["code"] == "bad_request"
            assert await client.frame() == (TEXT, b'{"type":"pong"}')

            frame = masked(TEXT, b'{"type":"ping"}')
            client.writer.write(frame[:5])
            await client.writer.drain()
            await asyncio.sleep(0.05)  # let the first half arrive on its own
            client.writer.write(frame[5:])
            assert await client.frame() == (TEXT, b'{"type":"pong"}')
        finally:
            client.close()


async def test_pings_answered_by_the_protocol_still_count_against_the_rate_limit(
    gw_stack: Any,
) -> None:
    user = str(uuid.uuid4())
    gw_stack.rooms[user] = []
    async with gw_stack.another_gateway(rate_per_s=1.0, rate_burst=6) as (app, port):
        client, _ = await RawClient.open(port, gw_stack.tokens.issue(user))
        try:
            client.send(TEXT, b'{"type":"ping"}')  # the session settles; one token used
            assert await client.frame() == (TEXT, b'{"type":"pong"}')
            before = app.api.state.keepalive.pings_answered
            answers = []
            for _ in range(8):  # one at a time, so each is a lone frame in its own read
                client.send(TEXT, b'{"type":"ping"}')
                _, payload = await client.frame()
                answers.append(orjson.loads(payload))
            assert answers[:5] == [{"type": "pong"}] * 5
            assert {a["type"] for a in answers[5:]} == {"error"}
            assert {(a["code"], a["ref"]) for a in answers[5:]} == {("rate_limited", "ping")}
            assert app.api.state.keepalive.pings_answered - before == 5
        finally:
            client.close()


async def test_oversized_frame_is_closed_1009_with_a_handshake_not_a_reset(gw_stack: Any) -> None:
    """A frame over the limit gets close 1009, and the server then waits for the peer to close
    instead of closing at once: closing with the rest of the frame unread makes the kernel send
    a reset, which can destroy the close frame on its way (the client saw no 1009, through the
    edge, now and then)."""
    user = str(uuid.uuid4())
    gw_stack.rooms[user] = []
    async with gw_stack.another_gateway() as (_, port):
        client, _ = await RawClient.open(port, gw_stack.tokens.issue(user))
        try:
            size = 64 * 1024 + 1
            mask = os.urandom(4)
            # Header and the first bytes only: the parser refuses the frame from its length.
            client.writer.write(bytes([0x80 | TEXT, 0x80 | 127]) + struct.pack("!Q", size) + mask)
            client.writer.write(b"x" * 100)
            opcode, payload = await client.frame()
            assert opcode == CLOSE
            assert struct.unpack("!H", payload[:2])[0] == 1009
            # The server does not hang up on its own right away (uvicorn's default did)...
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.reader.read(1), 0.5)
            # ...it drops the rest of the frame, and closes once the peer does.
            client.writer.write(b"x" * (size - 100))
            client.send(CLOSE, struct.pack("!H", 1000))
            await client.writer.drain()
            assert await asyncio.wait_for(client.reader.read(), 5) == b""
        finally:
            client.close()
