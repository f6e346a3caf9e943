"""Draining before a stop (api-v1.1 F, drain.py): `reconnect` with delays spread over the drain
period, each socket closed with 1012 at its moment, not ready meanwhile, late sockets sent away."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import chat_contracts
import orjson
import pytest
from gateway_service.drain import Drainer, drain_period_s, spread_ms
from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.unit

ORIGIN = {"origin": "http://localhost:8080"}


# -- the plan -----------------------------------------------------------------------------------


def test_drain_period_follows_the_socket_count_up_to_the_cap() -> None:
    assert drain_period_s(0, 20, 200) == 0
    assert drain_period_s(1, 20, 200) == 0
    assert drain_period_s(1000, 20, 200) == 5.0
    assert drain_period_s(10_000, 20, 200) == 20.0
    assert drain_period_s(10_000, 0, 200) == 0


@pytest.mark.parametrize("count", [1, 2, 7, 1000])
def test_delays_are_one_per_slot_of_the_period_in_random_order(count: int) -> None:
    period_s = 5.0
    delays = spread_ms(count, period_s, random.Random(7))
    assert len(delays) == count
    slot = period_s * 1000 / count
    # Sorted, the i-th delay falls in the i-th slot: evenly spread, never two in one slot.
    for i, delay in enumerate(sorted(delays)):
        assert i * slot <= delay < (i + 1) * slot + 1
    if count > 10:
        assert delays != sorted(delays)  # handed out in random order


# -- the drain on fake sessions (timing) --------------------------------------------------------


@dataclass
class RecordingOutput:
    started: float
    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed: tuple[float, int] | None = None

    def send(self, text: str, size: int | None = None) -> None:
        self.frames.append((time.monotonic() - self.started, orjson.loads(text)))

    def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (time.monotonic() - self.started, code)

    @property
    def closing(self) -> bool:
        return self.closed is not None


@dataclass
class FakeSession:
    output: RecordingOutput
    connection_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class FakeGateway:
    sessions: dict[str, Any] = field(default_factory=dict)


async def test_every_socket_is_told_first_and_closed_1012_at_its_moment() -> None:
    started = time.monotonic()
    gw = FakeGateway()
    sessions = [FakeSession(RecordingOutput(started)) for _ in range(40)]
    gw.sessions = {s.connection_id: s for s in sessions}
    drainer = Drainer(gw, max_s=0.6, reconnects_per_s=10, rng=random.Random(1))

    async def sessions_end_when_closed() -> None:
        while gw.sessions:
            for s in list(gw.sessions.values()):
                if s.output.closing:
                    del gw.sessions[s.connection_id]
            await asyncio.sleep(0.01)

    ender = asyncio.create_task(sessions_end_when_closed())
    await drainer.drain()
    await ender
    elapsed = time.monotonic() - started
    assert elapsed < 0.6 + 0.3

    after = []
    for s in sessions:
        (sent_at, frame), *rest = s.output.frames
        assert not rest
        chat_contracts.validate("ws.server.reconnect.v1", frame)
        assert frame["type"] == "reconnect"
        assert sent_at < 0.1  # every socket is told at once
        assert s.output.closed is not None
        closed_at, code = s.output.closed
        assert code == 1012
        # Closed at its moment (not before; a little after, on a busy machine).
        assert frame["after_ms"] / 1000 - 0.01 <= closed_at <= frame["after_ms"] / 1000 + 0.15
        after.append(frame["after_ms"])
    assert min(after) < 60
    assert max(after) > 540
    assert drainer.draining
    # A socket that arrives now is sent away at once with a short delay.
    late = FakeSession(RecordingOutput(started))
    assert drainer.late(late)  # type: ignore[arg-type]
    assert late.output.frames[0][1]["type"] == "reconnect"
    assert late.output.frames[0][1]["after_ms"] < 1000
    assert late.output.closed is not None
    assert late.output.closed[1] == 1012
    assert not drainer.late(late)  # type: ignore[arg-type]


async def test_a_second_drain_waits_for_the_first() -> None:
    gw = FakeGateway()
    s = FakeSession(RecordingOutput(time.monotonic()))
    gw.sessions = {s.connection_id: s}
    drainer = Drainer(gw, max_s=1, reconnects_per_s=1)
    gw.sessions.clear()  # the session ends at once
    await asyncio.gather(drainer.drain(), drainer.drain())
    assert drainer.draining


# -- the real app (Starlette's in-process client) -----------------------------------------------


def test_the_gateway_drains_its_sockets_and_is_not_ready_meanwhile(gw_harness: Any) -> None:
    client, app, verifier = gw_harness.client, gw_harness.app, gw_harness.verifier
    app.gateway.drainer.max_s = 0.3
    app.gateway.drainer.reconnects_per_s = 10
    assert client.get("/readyz").status_code == 200
    with contextlib.ExitStack() as stack:
        sockets = []
        for _ in range(3):
            ws = stack.enter_context(
                client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=ORIGIN)
            )
            ws.send_json({"type": "auth", "token": verifier.issue(str(uuid.uuid4()))})
            assert ws.receive_json()["type"] == "ready"
            sockets.append(ws)
        client.portal.call(app.gateway.drain)
        for ws in sockets:
            frame = ws.receive_json()
            assert frame["type"] == "reconnect"
            assert 0 <= frame["after_ms"] < 300
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1012
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["serving"] is False
    # A socket that connects to a draining gateway is sent away before signing in.
    with client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=ORIGIN) as ws:
        frame = ws.receive_json()
        assert frame["type"] == "reconnect"
        assert frame["after_ms"] < 1000
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1012
    assert not app.gateway.sessions
