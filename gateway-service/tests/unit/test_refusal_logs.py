"""Every socket the gateway refuses leaves a security line (issue #20, docs/security.md T80):
`socket_refused` with the reason, the client's address and the user when known, never the
token; the socket cap keeps its own `too_many_connections` line."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect
from structlog.testing import capture_logs

pytestmark = [pytest.mark.unit, pytest.mark.security]

ORIGIN = {"origin": "http://localhost:8080"}
# Behind the edge: the peer is a trusted proxy, the client's address comes in X-Real-IP.
EDGE = {**ORIGIN, "x-real-ip": "203.0.113.7"}


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def h(gw_harness: Any) -> Any:
    gw_harness.gateway.settings.trusted_proxies = ["testclient"]  # Starlette's test peer
    return gw_harness


@contextlib.contextmanager
def security_lines() -> Iterator[list[dict[str, Any]]]:
    """The security lines logged inside the block (the app runs in the client's thread)."""
    lines: list[dict[str, Any]] = []
    with capture_logs() as logs:
        yield lines
    lines.extend(dict(e) for e in logs if e.get("security"))


def _drain(ws: WebSocketTestSession) -> None:
    for _ in range(10):
        ws.receive_json()


def _closed(ws: WebSocketTestSession) -> int:
    with pytest.raises(WebSocketDisconnect) as info:
        _drain(ws)
    return info.value.code


def _signed_in_with(h: Any, token: str) -> int:
    """Sign in with `token` through the edge; the close code of the refused socket."""
    with h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=EDGE) as ws:
        ws.send_json({"type": "auth", "token": token})
        return _closed(ws)


def test_a_disallowed_origin_leaves_a_line_before_the_403(h: Any) -> None:
    headers = {**EDGE, "origin": "http://evil.example"}
    with security_lines() as lines, pytest.raises(WebSocketDisconnect):  # noqa: SIM117
        with h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=headers):
            pass
    assert lines == [
        {
            "log_level": "warning",  # a refusal (chat_runtime.logging.SECURITY_REFUSALS)
            "event": "socket_refused",
            "security": True,
            "reason": "origin_not_allowed",
            "stage": "upgrade",
            "address": "203.0.113.7",
            "origin": "http://evil.example",
        }
    ]


def test_a_missing_subprotocol_leaves_a_line(h: Any) -> None:
    with security_lines() as lines, pytest.raises(WebSocketDisconnect):  # noqa: SIM117
        with h.client.websocket_connect("/v1/ws", headers=EDGE):
            pass
    assert [(e["event"], e["reason"], e["address"]) for e in lines] == [
        ("socket_refused", "subprotocol_missing", "203.0.113.7")
    ]


def test_a_bad_token_leaves_its_reason_never_the_token(h: Any) -> None:
    with security_lines() as lines:
        assert _signed_in_with(h, "forged-secret-token") == 4401
    (line,) = lines
    assert line["event"] == "socket_refused"
    assert (line["reason"], line["check"], line["stage"]) == ("invalid_token", "invalid", "sign_in")
    assert line["address"] == "203.0.113.7"
    assert line["connection_id"]
    assert "user_id" not in line  # nobody is known from a refused token
    assert "forged-secret-token" not in repr(lines)


def test_an_expired_token_names_its_user(h: Any) -> None:
    user = new_id()
    token = h.verifier.issue(user, ttl=-5)
    with security_lines() as lines:
        assert _signed_in_with(h, token) == 4401
    assert [(e["reason"], e["user_id"], e["address"]) for e in lines] == [
        ("token_expired", user, "203.0.113.7")
    ]
    assert token not in repr(lines)


def test_no_auth_frame_and_a_wrong_first_frame_leave_lines(h: Any) -> None:
    with security_lines() as lines:
        with h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=EDGE) as ws:
            assert _closed(ws) == 4401  # nothing sent: the auth timeout (0.3 s here)
        with h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=EDGE) as ws:
            ws.send_json({"type": "ping"})
            assert _closed(ws) == 4401
    assert [e["reason"] for e in lines] == ["no_auth_frame", "not_an_auth_frame"]


def test_a_refresh_with_another_users_token_leaves_a_line(h: Any) -> None:
    alice, mallory = new_id(), new_id()
    h.bus.rooms[alice] = []
    with h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=EDGE) as ws:
        ws.send_json({"type": "auth", "token": h.verifier.issue(alice)})
        assert ws.receive_json()["type"] == "ready"
        with security_lines() as lines:
            ws.send_json({"type": "auth.refresh", "token": h.verifier.issue(mallory)})
            assert _closed(ws) == 4401
    assert [(e["reason"], e["stage"], e["user_id"], e["other_user_id"]) for e in lines] == [
        ("another_users_token", "refresh", alice, mallory)
    ]


def test_a_socket_over_the_cap_leaves_its_line(h: Any) -> None:
    h.gateway.settings.max_sockets_per_user = 1
    alice = new_id()
    h.bus.rooms[alice] = []
    with h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=EDGE) as first:
        first.send_json({"type": "auth", "token": h.verifier.issue(alice)})
        assert first.receive_json()["type"] == "ready"
        with security_lines() as lines:
            assert _signed_in_with(h, h.verifier.issue(alice)) == 1008
    assert [(e["event"], e["user_id"], e["address"]) for e in lines] == [
        ("too_many_connections", alice, "203.0.113.7")
    ]


def test_an_accepted_socket_leaves_no_refusal(h: Any) -> None:
    user = new_id()
    h.bus.rooms[user] = []
    with (
        security_lines() as lines,
        h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=EDGE) as ws,
    ):
        ws.send_json({"type": "auth", "token": h.verifier.issue(user)})
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
    assert lines == []


def test_a_revoked_session_is_refused_with_its_reason(gw_tokens: Any) -> None:
    """The real verifier: its `token_refused` line, then the gateway's with the socket's."""
    sid = new_id()
    gw_tokens.app.api.state.host.revocations.add(sid)
    token = gw_tokens.verifier.issue(new_id(), session_id=sid)
    with (
        security_lines() as lines,
        gw_tokens.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"]) as ws,
    ):
        ws.send_json({"type": "auth", "token": token})
        assert _closed(ws) == 4401
    assert [(e["event"], e["reason"], e.get("check")) for e in lines] == [
        ("token_refused", "revoked", None),
        ("socket_refused", "invalid_token", "revoked"),
    ]
    assert token not in repr(lines)
