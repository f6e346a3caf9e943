"""Anti-automation in the gateway (issue #20): the per-user socket cap of api-v1.1 F and the
typing interval of api-v1 §6 (repeats dropped silently, never relayed to the bus)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_service.domain.typing_gate import TypingGate
from gateway_service.settings import GatewaySettings
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.unit

ORIGIN = {"origin": "http://localhost:8080"}


def new_id() -> str:
    return str(uuid.uuid4())


@contextlib.contextmanager
def _socket(h: Any, user_id: str) -> Iterator[WebSocketTestSession]:
    """A socket of `user_id` that sent its `auth` frame (the answer not read yet)."""
    with h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=ORIGIN) as ws:
        ws.send_json({"type": "auth", "token": h.verifier.issue(user_id)})
        yield ws


def _refused_with_1008(ws: WebSocketTestSession) -> None:
    err = ws.receive_json()
    assert (err["type"], err["code"], err["ref"]) == ("error", "too_many_connections", "auth")
    assert err["message"]
    with pytest.raises(WebSocketDisconnect) as info:
        ws.receive_json()
    assert info.value.code == 1008


# --- the socket cap ------------------------------------------------------------------------------


def test_the_default_cap_is_20() -> None:
    assert GatewaySettings().max_sockets_per_user == 20


def test_the_21st_socket_of_a_user_is_refused_and_others_are_not(gw_harness: Any) -> None:
    alice, bob = new_id(), new_id()
    gw_harness.bus.rooms[alice] = []
    with contextlib.ExitStack() as stack:
        for _ in range(20):
            ws = stack.enter_context(_socket(gw_harness, alice))
            assert ws.receive_json()["type"] == "ready"
        with _socket(gw_harness, alice) as ws:
            _refused_with_1008(ws)
        assert len(gw_harness.gateway.registry.connections_of_user(alice)) == 20
        with _socket(gw_harness, bob) as ws:  # another user is not affected
            assert ws.receive_json()["type"] == "ready"
    # The refused socket was never announced to presence.
    opened = [e for e in gw_harness.bus.events if e[1] == "presence.connection.opened.v1"]
    assert len(opened) == 21


def test_a_closed_socket_frees_its_place(gw_harness: Any) -> None:
    gw_harness.gateway.settings.max_sockets_per_user = 2
    alice = new_id()
    gw_harness.bus.rooms[alice] = []
    with contextlib.ExitStack() as first, _socket(gw_harness, alice) as ws2:
        ws1 = first.enter_context(_socket(gw_harness, alice))
        assert ws1.receive_json()["type"] == "ready"
        assert ws2.receive_json()["type"] == "ready"
        with _socket(gw_harness, alice) as ws:
            _refused_with_1008(ws)
        first.close()
        # The first one's disconnect is handled in the app's loop: a ping on the second one
        # round-trips through that loop after it.
        ws2.send_json({"type": "ping"})
        assert ws2.receive_json()["type"] == "pong"
        with _socket(gw_harness, alice) as ws:
            assert ws.receive_json()["type"] == "ready"


# --- the typing interval -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _typing_events(h: Any) -> list[dict[str, Any]]:
    return [e[2] for e in h.bus.events if e[1] == "typing.v1"]


def test_typing_faster_than_the_interval_is_dropped_silently(gw_harness: Any) -> None:
    clock = Clock()
    gw_harness.gateway.monotonic = clock
    alice, room, other_room = new_id(), new_id(), new_id()
    with gw_harness.connected(alice, [room, other_room]) as (ws, _):
        for _ in range(5):
            ws.send_json({"type": "typing", "room_id": room})
        ws.send_json({"type": "typing", "room_id": other_room})  # its own interval
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # no error frame before it
        assert _typing_events(gw_harness) == [
            {"room_id": room, "user_id": alice},
            {"room_id": other_room, "user_id": alice},
        ]
        clock.now += 2.5  # a client sending every 3 s, its frame 0.5 s early
        ws.send_json({"type": "typing", "room_id": room})
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        assert len(_typing_events(gw_harness)) == 3


def test_the_interval_is_per_user_across_sockets(gw_harness: Any) -> None:
    gw_harness.gateway.monotonic = Clock()
    alice, bob, room = new_id(), new_id(), new_id()
    with (
        gw_harness.connected(alice, [room]) as (wa1, _),
        gw_harness.connected(alice, [room]) as (wa2, _),
        gw_harness.connected(bob, [room]) as (wb, _),
    ):
        for ws in (wa1, wa2, wb):
            ws.send_json({"type": "typing", "room_id": room})
            ws.send_json({"type": "ping"})
            assert ws.receive_json() == {"type": "pong"}
        assert [e["user_id"] for e in _typing_events(gw_harness)] == [alice, bob]


def test_the_typing_gate_forgets_what_has_expired() -> None:
    gate = TypingGate(2.5)
    assert gate.allow("u", "r1", 0.0)
    assert not gate.allow("u", "r1", 2.4)
    assert gate.allow("u", "r2", 2.4)
    assert len(gate) == 2
    assert gate.allow("u", "r1", 2.5)
    assert len(gate) == 2  # r1 again; r2 still within its interval
    assert gate.allow("v", "r1", 10.0)
    assert len(gate) == 1
    off = TypingGate(0)
    assert all(off.allow("u", "r", 0.0) for _ in range(3))
    assert len(off) == 0
