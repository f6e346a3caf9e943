"""The WebSocket protocol against fake broker and verifier (Starlette's in-process client)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chat_contracts
import msgspec
import orjson
import pytest
from chat_contracts.examples import Example, examples
from chat_runtime.features import IMPLEMENTED, KNOWN
from gateway_service.domain.frames import rfc3339
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.unit

ORIGIN = {"origin": "http://localhost:8080"}


def new_id() -> str:
    return str(uuid.uuid4())


@contextlib.contextmanager
def connected(
    h: Any, user_id: str, rooms: list[str] | None = None, *, session_id: str | None = None
) -> Iterator[tuple[WebSocketTestSession, dict[str, Any]]]:
    if rooms is not None:
        h.bus.rooms[user_id] = rooms
    token = h.verifier.issue(user_id, session_id=session_id)
    with h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=ORIGIN) as ws:
        ws.send_json({"type": "auth", "token": token})
        ready = ws.receive_json()
        assert ready["type"] == "ready", ready
        yield ws, ready


def _drain(ws: WebSocketTestSession) -> None:
    for _ in range(50):
        ws.receive_json()


def closed_with(ws: WebSocketTestSession) -> int:
    with pytest.raises(WebSocketDisconnect) as info:
        _drain(ws)
    return info.value.code


def message(room_id: str, sender: str, cmid: str, seq: int = 1) -> dict[str, Any]:
    return {
        "id": new_id(),
        "room_id": room_id,
        "seq": seq,
        "kind": "text",
        "sender_id": sender,
        "text": "hello",
        "client_msg_id": cmid,
        "created_at": "2026-11-26T15:04:05.123Z",
    }


# --- handshake and authentication ---------------------------------------------------------------


def test_disallowed_origin_is_refused_before_accept(gw_harness: Any) -> None:
    with pytest.raises(WebSocketDisconnect) as info:  # noqa: SIM117
        with gw_harness.client.websocket_connect(
            "/v1/ws", subprotocols=["chat.v1"], headers={"origin": "http://evil.example"}
        ):
            pass
    assert info.value.code == 1008


def test_missing_subprotocol_is_refused(gw_harness: Any) -> None:
    with pytest.raises(WebSocketDisconnect):  # noqa: SIM117
        with gw_harness.client.websocket_connect("/v1/ws", headers=ORIGIN):
            pass


def test_no_origin_is_accepted_and_subprotocol_selected(gw_harness: Any) -> None:
    token = gw_harness.verifier.issue(new_id())
    with gw_harness.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"]) as ws:
        assert ws.accepted_subprotocol == "chat.v1"
        ws.send_json({"type": "auth", "token": token})
        assert ws.receive_json()["type"] == "ready"


def test_auth_timeout_closes_4401(gw_harness: Any) -> None:
    with gw_harness.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"]) as ws:
        err = ws.receive_json()
        assert (err["type"], err["code"]) == ("error", "unauthorized")
        assert closed_with(ws) == 4401


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "forged"},
        {"type": "ping"},
        {"type": "auth"},
        {"type": "auth", "token": "x" * 8193},
    ],
)
def test_bad_first_frame_closes_4401(gw_harness: Any, first: dict[str, Any]) -> None:
    with gw_harness.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"]) as ws:
        ws.send_json(first)
        assert ws.receive_json()["code"] == "unauthorized"
        assert closed_with(ws) == 4401


def test_ready_only_after_bindings_are_confirmed(gw_harness: Any) -> None:
    gw_harness.bus.bind_delay_s = 0.05
    user, rooms = new_id(), [new_id(), new_id()]
    with connected(gw_harness, user, rooms) as (_, ready):
        assert {f"user.{user}.#", *(f"room.{r}.#" for r in rooms)} <= gw_harness.bus.bound
        assert ready["user_id"] == user
        assert ready["heartbeat_s"] == 25
        assert ready["server_time"].endswith("Z")
        assert ready["connection_id"]
    # The last connection gone: every binding of it removed, presence told.
    assert gw_harness.bus.bound == set()
    types = [e[1] for e in gw_harness.bus.events if e[1].startswith("presence.connection")]
    assert types == ["presence.connection.opened.v1", "presence.connection.closed.v1"]


def test_membership_unavailable_closes_1011(gw_harness: Any) -> None:
    gw_harness.bus.membership_down = True
    token = gw_harness.verifier.issue(new_id())
    with gw_harness.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"]) as ws:
        ws.send_json({"type": "auth", "token": token})
        assert ws.receive_json()["code"] == "unavailable"
        assert closed_with(ws) == 1011
    assert gw_harness.bus.bound == set()


@pytest.mark.parametrize("reason", ["keys_unavailable", "revocations_unavailable"])
def test_token_that_cannot_be_checked_now_closes_1011(gw_harness: Any, reason: str) -> None:
    gw_harness.verifier.unavailable = reason
    token = gw_harness.verifier.issue(new_id())
    with gw_harness.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"]) as ws:
        ws.send_json({"type": "auth", "token": token})
        err = ws.receive_json()
        assert (err["code"], err["ref"]) == ("unavailable", "auth")
        assert closed_with(ws) == 1011


# --- bad frames keep the connection open ---------------------------------------------------------


def test_bad_frames_get_errors_and_the_socket_stays_usable(gw_harness: Any) -> None:
    user, room = new_id(), new_id()
    cmid = new_id()
    with connected(gw_harness, user, [room]) as (ws, _):
        ws.send_text("{oops")
        assert ws.receive_json()["code"] == "bad_request"
        ws.send_json({"type": "nope"})
        assert ws.receive_json() == {
            "type": "error",
            "code": "bad_request",
            "message": "The frame type 'nope' is not known.",
            "ref": "nope",
        }
        ws.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": " "})
        assert (ws.receive_json()["code"], cmid) == ("bad_request", cmid)
        ws.send_json(
            {"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "x" * 4001}
        )
        err = ws.receive_json()
        assert (err["code"], err["ref"]) == ("message_too_long", cmid)
        ws.send_json({"type": "typing", "room_id": "123"})
        assert ws.receive_json()["ref"] == "typing"
        ws.send_json({"type": "auth", "token": "again"})
        assert ws.receive_json()["code"] == "bad_request"
        ws.send_bytes(b'{"type":"ping"}')
        assert ws.receive_json() == {"type": "pong"}
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_send_to_a_room_the_user_is_not_in(gw_harness: Any) -> None:
    user = new_id()
    cmid = new_id()
    with connected(gw_harness, user, [new_id()]) as (ws, _):
        ws.send_json(
            {"type": "message.send", "client_msg_id": cmid, "room_id": new_id(), "text": "hi"}
        )
        assert ws.receive_json() | {"message": ""} == {
            "type": "error",
            "code": "not_a_member",
            "ref": cmid,
            "message": "",
        }
    assert gw_harness.bus.commands == []


def test_send_to_a_room_joined_before_its_event_arrived_is_accepted(gw_harness: Any) -> None:
    """REST answered "joined" but `room.joined.v1` has not reached this gateway yet."""
    user, room, cmid = new_id(), new_id(), new_id()
    with connected(gw_harness, user, []) as (ws, _):
        gw_harness.bus.rooms[user] = [room]  # message-service knows; no event delivered
        ws.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "hi"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # no error came first
    assert [c[2]["client_msg_id"] for c in gw_harness.bus.commands] == [cmid]
    # Bound before publishing, so the `created` event that acks it reaches this gateway.
    assert ("bind", f"room.{room}.#") in gw_harness.bus.ops


def test_membership_check_unavailable_answers_unavailable(gw_harness: Any) -> None:
    user, cmid = new_id(), new_id()
    with connected(gw_harness, user, []) as (ws, _):
        gw_harness.bus.membership_down = True
        ws.send_json(
            {"type": "message.send", "client_msg_id": cmid, "room_id": new_id(), "text": "hi"}
        )
        err = ws.receive_json()
        assert (err["code"], err["ref"]) == ("unavailable", cmid)
    assert gw_harness.bus.commands == []


# --- sending, acks, fan-out -----------------------------------------------------------------------


def test_send_publishes_sharded_command_and_created_acks_and_fans_out(gw_harness: Any) -> None:
    from chat_runtime.messaging import shard_of

    alice, bob, carol, room = new_id(), new_id(), new_id(), new_id()
    cmid = new_id()
    with (
        connected(gw_harness, alice, [room]) as (wa, ready_a),
        connected(gw_harness, bob, [room]) as (wb, _),
        connected(gw_harness, carol, [new_id()]) as (wc, _),
    ):
        wa.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "hi"})
        wa.send_json({"type": "ping"})
        assert wa.receive_json() == {"type": "pong"}  # the send was handled before the ping
        routing_key, type_name, body = gw_harness.bus.commands[0]
        assert routing_key == f"message.send.v1.{shard_of(room, 8)}"
        assert type_name == "message.send.v1"
        assert body == {
            "client_msg_id": cmid,
            "room_id": room,
            "sender_id": alice,
            "session_id": ready_a["session_id"],
            "text": "hi",
            "gateway_id": gw_harness.gateway.gateway_id,
            "connection_id": ready_a["connection_id"],
        }
        msg = message(room, alice, cmid)
        gw_harness.event("message.created.v1", {"message": msg})
        assert wa.receive_json() == {"type": "message.ack", "client_msg_id": cmid, "message": msg}
        assert wa.receive_json() == {"type": "message.new", "message": msg}
        assert wb.receive_json() == {"type": "message.new", "message": msg}
        # A duplicate `accepted` after the ack is not acked twice; carol is not a member.
        gw_harness.event("message.accepted.v1", {"client_msg_id": cmid, "message": msg})
        for ws in (wa, wc):
            ws.send_json({"type": "ping"})
            assert ws.receive_json() == {"type": "pong"}


def test_retry_of_committed_send_is_acked_by_accepted(gw_harness: Any) -> None:
    user, room, cmid = new_id(), new_id(), new_id()
    with connected(gw_harness, user, [room]) as (ws, _):
        ws.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "a"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        msg = message(room, user, cmid)
        gw_harness.event("message.accepted.v1", {"client_msg_id": cmid, "message": msg})
        assert ws.receive_json() == {"type": "message.ack", "client_msg_id": cmid, "message": msg}


def test_unconfirmed_send_is_unavailable(gw_harness: Any) -> None:
    user, room, cmid = new_id(), new_id(), new_id()
    gw_harness.bus.fail_commands = True
    with connected(gw_harness, user, [room]) as (ws, _):
        ws.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "a"})
        err = ws.receive_json()
        assert (err["code"], err["ref"]) == ("unavailable", cmid)
    assert len(gw_harness.gateway.pending) == 0


def test_rejected_becomes_error_for_the_sender(gw_harness: Any) -> None:
    user, room, cmid = new_id(), new_id(), new_id()
    with connected(gw_harness, user, [room]) as (ws, _):
        ws.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "a"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        gw_harness.event(
            "message.rejected.v1",
            {
                "client_msg_id": cmid,
                "room_id": room,
                "sender_id": user,
                "code": "client_msg_id_reused",
                "message": "That client_msg_id was used in another room.",
            },
        )
        err = ws.receive_json()
        assert (err["type"], err["code"], err["ref"]) == ("error", "client_msg_id_reused", cmid)


# --- typing, read, membership changes -------------------------------------------------------------


def test_typing_published_for_members_and_relayed_to_others(gw_harness: Any) -> None:
    alice, bob, room = new_id(), new_id(), new_id()
    with (
        connected(gw_harness, alice, [room]) as (wa, _),
        connected(gw_harness, bob, [room]) as (
            wb,
            _,
        ),
    ):
        wa.send_json({"type": "typing", "room_id": room})
        wa.send_json({"type": "typing", "room_id": new_id()})  # not a member: ignored
        wa.send_json({"type": "ping"})
        assert wa.receive_json()["type"] == "pong"
        typing = [e for e in gw_harness.bus.events if e[1] == "typing.v1"]
        assert typing == [
            (f"room.{room}.typing.v1", "typing.v1", {"room_id": room, "user_id": alice}, True)
        ]
        gw_harness.event("typing.v1", {"room_id": room, "user_id": alice})
        assert wb.receive_json() == {"type": "typing", "room_id": room, "user_id": alice}
        wa.send_json({"type": "ping"})
        assert wa.receive_json()["type"] == "pong"  # the typist hears nothing


def test_read_becomes_command_and_event_becomes_frame(gw_harness: Any) -> None:
    user, room = new_id(), new_id()
    with connected(gw_harness, user, [room]) as (ws, _):
        ws.send_json({"type": "read", "room_id": room, "seq": 7})
        ws.send_json({"type": "read", "room_id": new_id(), "seq": 7})
        assert ws.receive_json()["code"] == "not_a_member"
        key, type_name, body = gw_harness.bus.commands[0]
        assert key.startswith("room.read.v1.")
        assert type_name == "room.read.v1"
        assert body == {"room_id": room, "user_id": user, "seq": 7}
        gw_harness.event("read.v1", {"room_id": room, "user_id": user, "seq": 7})
        assert ws.receive_json() == {"type": "read", "room_id": room, "user_id": user, "seq": 7}


def test_room_joined_binds_at_once_and_allows_sending(gw_harness: Any) -> None:
    user, other, room = new_id(), new_id(), new_id()
    with (
        connected(gw_harness, user, []) as (ws, _),
        connected(gw_harness, other, [room]) as (
            wo,
            _,
        ),
    ):
        gw_harness.event("room.joined.v1", {"user_id": user, "room_id": room})
        assert ws.receive_json() == {"type": "room.member_joined", "room_id": room, "user_id": user}
        gw_harness.event("member_joined.v1", {"room_id": room, "user_id": user})
        assert wo.receive_json() == {"type": "room.member_joined", "room_id": room, "user_id": user}
        cmid = new_id()
        ws.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "x"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"  # no not_a_member error before it
        assert gw_harness.bus.commands[-1][2]["client_msg_id"] == cmid
        gw_harness.event("room.left.v1", {"user_id": user, "room_id": room})
        assert ws.receive_json() == {"type": "room.member_left", "room_id": room, "user_id": user}
        assert f"room.{room}.#" in gw_harness.bus.bound  # `other` is still a member
        ws.send_json({"type": "typing", "room_id": room})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        assert not [e for e in gw_harness.bus.events if e[1] == "typing.v1"]


# --- auth lifetime -------------------------------------------------------------------------------


def test_revoked_session_closes_4401(gw_tokens: Any) -> None:
    """The host's revocation set tells its listeners; the gateway is one of them."""
    user, sid = new_id(), new_id()
    with (
        connected(gw_tokens, user, [], session_id=sid) as (ws, _),
        connected(gw_tokens, user, []) as (other_tab, _),
    ):
        (connection_id,) = gw_tokens.gateway.registry.connections_of_session(sid)
        revoked = gw_tokens.gateway.sessions[connection_id]
        gw_tokens.event(
            "auth.session.revoked.v1",
            {
                "session_id": sid,
                "user_id": user,
                "revoked_at": rfc3339(datetime.now(UTC)),
                "reason": "logout",
            },
        )
        assert revoked.output.closing  # told at once (a failure here does not hang)
        assert closed_with(ws) == 4401
        other_tab.send_json({"type": "ping"})
        assert other_tab.receive_json()["type"] == "pong"
    # And the session's tokens are refused from now on.
    token = gw_tokens.verifier.issue(user, session_id=sid)
    with gw_tokens.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"]) as ws:
        ws.send_json({"type": "auth", "token": token})
        assert ws.receive_json()["code"] == "unauthorized"
        assert closed_with(ws) == 4401


def test_sign_in_is_unavailable_until_revocations_are_loaded(gw_tokens: Any) -> None:
    """Revocations not current (not loaded yet, or the broker link dropped): a genuine token
    is neither accepted nor called bad; the client is told to retry."""
    revocations = gw_tokens.app.api.state.host.revocations
    revocations.mark_stale()
    token = gw_tokens.verifier.issue(new_id())
    with gw_tokens.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"]) as ws:
        ws.send_json({"type": "auth", "token": token})
        assert ws.receive_json() | {"message": ""} == {
            "type": "error",
            "code": "unavailable",
            "ref": "auth",
            "message": "",
        }
        assert closed_with(ws) == 1011
    revocations.mark_current()
    with connected(gw_tokens, new_id(), []) as (_, ready):
        assert ready["type"] == "ready"


@pytest.mark.parametrize("reason", ["keys_unavailable", "revocations_unavailable"])
def test_refresh_unavailable_keeps_the_socket(gw_harness: Any, reason: str) -> None:
    user = new_id()
    with connected(gw_harness, user, []) as (ws, _):
        gw_harness.verifier.unavailable = reason
        ws.send_json({"type": "auth.refresh", "token": "whatever"})
        err = ws.receive_json()
        assert (err["code"], err["ref"]) == ("unavailable", "auth.refresh")
        gw_harness.verifier.unavailable = None
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"


def test_expiry_closes_4401_unless_refreshed(gw_harness: Any) -> None:
    user = new_id()
    with connected(gw_harness, user, []) as (ws, _), connected(gw_harness, user, []) as (ws2, _):
        ws.send_json({"type": "auth.refresh", "token": gw_harness.verifier.issue(user, ttl=3600)})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        gw = gw_harness.gateway
        gw.clock = lambda: time.time() + 1200  # past the 900 s tokens, before the refreshed one
        gw_harness.run(gw.sweep)
        assert ws2.receive_json()["code"] == "unauthorized"
        assert closed_with(ws2) == 4401
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"


def test_refresh_for_another_user_closes(gw_harness: Any) -> None:
    with connected(gw_harness, new_id(), []) as (ws, _):
        ws.send_json({"type": "auth.refresh", "token": gw_harness.verifier.issue(new_id())})
        assert ws.receive_json()["code"] == "unauthorized"
        assert closed_with(ws) == 4401


# --- rate limit, slow readers, resync ----------------------------------------------------------


def test_rate_limit_refuses_then_recovers(gw_harness: Any) -> None:
    now = [1000.0]
    gw_harness.gateway.monotonic = lambda: now[0]
    with connected(gw_harness, new_id(), []) as (ws, _):
        for _ in range(105):
            ws.send_json({"type": "ping"})
        replies = [ws.receive_json() for _ in range(105)]
        assert replies[:100] == [{"type": "pong"}] * 100
        assert {(r["type"], r["code"], r["ref"]) for r in replies[100:]} == {
            ("error", "rate_limited", "ping")
        }
        now[0] += 1.0
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def _flood(ws: WebSocketTestSession, now: list[float], codes: list[str]) -> None:
    for step in range(14):
        # Each batch is answered before the clock moves on: the server reads the clock.
        now[0] += 0.9 if step else 0.0
        count = 101 if step == 0 else 30
        for _ in range(count):
            ws.send_json({"type": "ping"})
        for _ in range(count):
            reply = ws.receive_json()
            codes.append(reply.get("code", reply["type"]))


def test_rate_limit_closes_1008_when_flooding_continues(gw_harness: Any) -> None:
    now = [1000.0]
    gw_harness.gateway.monotonic = lambda: now[0]
    with connected(gw_harness, new_id(), []) as (ws, _):
        codes: list[str] = []
        with pytest.raises(WebSocketDisconnect) as info:
            _flood(ws, now, codes)
        assert info.value.code == 1008
        assert codes.count("rate_limited") > 100  # refused all along, closed only at the end


def test_resync_redeclares_and_tells_every_socket(gw_harness: Any) -> None:
    user, room = new_id(), new_id()
    with connected(gw_harness, user, [room]) as (ws, _):
        gw_harness.call(gw_harness.gateway.resync)  # the host's on_reconnect
        assert ws.receive_json() == {"type": "resync"}
        assert set(gw_harness.bus.redeclared[0]) == {f"user.{user}.#", f"room.{room}.#"}


# --- presence ----------------------------------------------------------------------------------


def test_presence_frames_only_to_subscribers(gw_harness: Any) -> None:
    watched = new_id()
    with (
        connected(gw_harness, new_id(), []) as (sub, _),
        connected(gw_harness, new_id(), []) as (
            other,
            _,
        ),
    ):
        sub.send_json({"type": "presence.subscribe", "user_ids": [watched]})
        sub.send_json({"type": "ping"})
        assert sub.receive_json()["type"] == "pong"
        body = {"user_id": watched, "status": "away", "last_seen_at": "2026-11-26T15:04:05.000Z"}
        gw_harness.event("presence.changed.v1", body)
        assert sub.receive_json() == {"type": "presence", **body}
        other.send_json({"type": "ping"})
        assert other.receive_json()["type"] == "pong"


def test_presence_set_and_heartbeat(gw_harness: Any) -> None:
    user = new_id()
    with connected(gw_harness, user, []) as (ws, ready):
        ws.send_json({"type": "presence.set", "status": "away"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        updated = [e for e in gw_harness.bus.events if e[1] == "presence.connection.updated.v1"]
        assert updated[0][2]["status"] == "away"
        assert updated[0][3] is False  # persistent and confirmed
        beat = msgspec.to_builtins(gw_harness.gateway.presence.heartbeat())
        assert beat["gateway_id"] == gw_harness.gateway.gateway_id
        assert beat["interval_s"] == 3600
        assert beat["connections"] == [
            {"connection_id": ready["connection_id"], "user_id": user, "status": "away"}
        ]
        # Nothing is validated at publish time, so the contracts are checked here.
        chat_contracts.validate("presence.gateway.heartbeat.v1", beat)
        for _, type_name, body, _ in gw_harness.bus.events:
            chat_contracts.validate(type_name, body)


async def test_slow_reader_is_cut_at_the_output_budget() -> None:
    """A socket that never drains: queued output hits 1 MiB and the session closes 1008."""
    import asyncio

    from gateway_service.connection import Session
    from gateway_service.hub import Gateway
    from gateway_service.settings import GatewaySettings

    class StuckSocket:
        closed: tuple[int, str | None] | None = None

        async def receive(self) -> dict[str, Any]:
            await asyncio.Event().wait()
            return {}

        async def send_text(self, data: str) -> None:
            await asyncio.Event().wait()

        def write_frame(self, frame: bytes) -> bool:
            return False

        def answer_pings(self, answerer: Any) -> None:
            pass

        async def close(self, code: int = 1000, reason: str | None = None) -> None:
            self.closed = (code, reason)

    gw = Gateway(GatewaySettings(), bus=None, verifier=None)  # type: ignore[arg-type]
    session = Session(gw, StuckSocket())
    frame = orjson.dumps({"type": "message.new", "text": "x" * 10_000}).decode()
    for _ in range(104):
        session.output.send(frame)
    assert not session.output.closing
    session.output.send(frame)
    assert session.output.closing
    assert session.output.pending_bytes == 0  # queued output dropped, memory released
    await asyncio.sleep(1.2)  # the close attempt gives up on a socket that never drains


def test_leave_then_rejoin_keeps_binding_order(gw_harness: Any) -> None:
    user, room = new_id(), new_id()
    with connected(gw_harness, user, [room]) as (ws, _):
        gw_harness.event("room.left.v1", {"user_id": user, "room_id": room})
        gw_harness.event("room.joined.v1", {"user_id": user, "room_id": room})
        assert ws.receive_json()["type"] == "room.member_left"
        assert ws.receive_json()["type"] == "room.member_joined"
        key = f"room.{room}.#"
        assert [op for op in gw_harness.bus.ops if op[1] == key][-2:] == [
            ("unbind", key),
            ("bind", key),
        ]
        assert key in gw_harness.bus.bound


async def test_fan_out_frames_go_direct_only_when_nothing_is_queued_ahead() -> None:
    """`send_encoded` writes the shared frame straight to the transport when the session has
    no queued output and the transport takes it; otherwise the text joins the queue, so a
    socket never sees frames out of order."""
    import asyncio

    from gateway_service.connection import Session
    from gateway_service.domain.frames import encode_text_frame
    from gateway_service.hub import Gateway
    from gateway_service.settings import GatewaySettings

    class DirectSocket:
        def __init__(self) -> None:
            self.wire: list[str] = []  # what the peer receives, in order
            self.accept_direct = True
            self.release = asyncio.Event()

        async def receive(self) -> dict[str, Any]:
            await asyncio.Event().wait()
            return {}

        async def send_text(self, data: str) -> None:
            await self.release.wait()  # the ordinary path is slow until released
            self.wire.append(data)

        def write_frame(self, frame: bytes) -> bool:
            if not self.accept_direct:
                return False
            self.wire.append(frame[2:].decode())  # short frames: 2-byte header
            return True

        def answer_pings(self, answerer: Any) -> None:
            pass

        async def close(self, code: int = 1000, reason: str | None = None) -> None:
            pass

    def shared(text: str) -> tuple[str, int, bytes]:
        return text, len(text), encode_text_frame(text.encode())

    socket = DirectSocket()
    session = Session(Gateway(GatewaySettings(), bus=None, verifier=None), socket)  # type: ignore[arg-type]
    output = session.output
    output.send_encoded(*shared("a"))
    assert socket.wire == ["a"]  # nothing queued: written at once, no writer task
    output.send("b")  # the ordinary path, held up in send_text
    output.send_encoded(*shared("c"))  # must wait behind "b"
    assert socket.wire == ["a"]
    socket.release.set()
    await asyncio.sleep(0.01)
    assert socket.wire == ["a", "b", "c"]
    socket.accept_direct = False  # transport paused: queued instead
    output.send_encoded(*shared("d"))
    await asyncio.sleep(0.01)
    assert socket.wire == ["a", "b", "c", "d"]


# --- a tolerant reader (api-v1.1 preamble item 1) and feature switches ---------------------------
# What a newer service or client sends is neither dead-lettered nor lost here: unknown fields,
# kinds and codes reach the clients as they came, every field of a `message.send` is forwarded,
# and api-v1.1 additions whose feature is off stop at the gateway.

FIXTURES = Path(__file__).resolve().parents[3] / "contracts" / "fixtures"


def test_ready_says_which_features_are_on(gw_harness: Any, gw_features_off: Any) -> None:
    with connected(gw_harness, new_id(), []) as (_, ready):
        # CHAT_FEATURES unset: all this release has.
        assert ready["features"] == sorted(IMPLEMENTED, key=KNOWN.index)
    with connected(gw_features_off, new_id(), []) as (_, ready):
        assert ready["features"] == []  # CHAT_FEATURES= (an upgrade in progress)


@pytest.mark.parametrize(
    "example",
    [e for e in examples("message.created.v1", valid=True) if e.name.startswith("tolerant_")],
    ids=lambda e: e.name,
)
def test_entries_from_a_newer_message_service_reach_clients_unchanged(
    gw_harness: Any, example: Example
) -> None:
    """Unknown kinds, missing text and unknown fields: carried, not dropped or re-shaped."""
    user = new_id()
    assert isinstance(example.body, dict)
    entry = dict(example.body["message"])
    room = entry["room_id"]
    entry["sender_id"] = user
    with connected(gw_harness, user, [room]) as (ws, _):
        gw_harness.event("message.created.v1", {"message": entry, "from_a_newer_release": 1})
        assert ws.receive_json() == {"type": "message.new", "message": entry}


def test_a_v1_1_text_entry_keeps_its_new_fields_in_ack_and_fan_out(gw_harness: Any) -> None:
    alice, bob, room, cmid = new_id(), new_id(), new_id(), new_id()
    entry = message(room, alice, cmid) | {
        "edited_at": None,
        "deleted": False,
        "reactions": [{"emoji": "👍", "count": 1, "user_ids": [bob]}],
        "state_seq": 1,
    }
    with (
        connected(gw_harness, alice, [room]) as (wa, _),
        connected(gw_harness, bob, [room]) as (
            wb,
            _,
        ),
    ):
        wa.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "x"})
        wa.send_json({"type": "ping"})
        assert wa.receive_json() == {"type": "pong"}
        gw_harness.event("message.created.v1", {"message": entry})
        assert wa.receive_json() == {"type": "message.ack", "client_msg_id": cmid, "message": entry}
        assert wa.receive_json() == {"type": "message.new", "message": entry}
        assert wb.receive_json() == {"type": "message.new", "message": entry}


def test_an_unknown_rejection_code_reaches_the_sender_as_it_came(gw_harness: Any) -> None:
    user, room, cmid = new_id(), new_id(), new_id()
    with connected(gw_harness, user, [room]) as (ws, _):
        ws.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "a"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        body = {
            "client_msg_id": cmid,
            "room_id": room,
            "sender_id": user,
            "code": "slow_mode",  # a code a later release may add
            "message": "Wait a minute between messages here.",
        }
        gw_harness.event("message.rejected.v1", body)
        assert ws.receive_json() == {
            "type": "error",
            "code": "slow_mode",
            "message": "Wait a minute between messages here.",
            "ref": cmid,
        }


def test_a_revocation_with_an_unknown_reason_still_ends_the_session(gw_tokens: Any) -> None:
    """A later release may end sessions for new reasons (deactivation): never ignored."""
    user, sid = new_id(), new_id()
    with connected(gw_tokens, user, [], session_id=sid) as (ws, _):
        gw_tokens.event(
            "auth.session.revoked.v1",
            {
                "session_id": sid,
                "user_id": user,
                "revoked_at": rfc3339(datetime.now(UTC)),
                "reason": "account_deactivated",
                "actor_id": new_id(),
            },
        )
        assert closed_with(ws) == 4401


V1_1_SENDS = sorted((FIXTURES / "ws" / "client" / "message.send.v1" / "valid").glob("v1_1_*.json"))


@pytest.mark.parametrize("fixture", V1_1_SENDS, ids=lambda p: p.stem)
def test_v1_1_sends_stop_at_the_gateway_while_their_feature_is_off(
    gw_features_off: Any, fixture: Path
) -> None:
    """Never forwarded to a message-service that might be one release behind: `entries`,
    `threads` and `attachments` are implemented but off (`feature_disabled`)."""
    user, room = new_id(), new_id()
    frame = json.loads(fixture.read_text(encoding="utf-8")) | {"room_id": room}
    wanted = "feature_disabled"
    with connected(gw_features_off, user, [room]) as (ws, _):
        ws.send_json(frame)
        err = ws.receive_json()
        assert (err["type"], err["code"], err["ref"]) == ("error", wanted, frame["client_msg_id"])
    assert gw_features_off.bus.commands == []


def test_every_field_of_a_send_is_forwarded_even_unknown_ones(gw_harness: Any) -> None:
    """The message-service of the client's release judges fields this gateway does not know."""
    user, room, cmid = new_id(), new_id(), new_id()
    with connected(gw_harness, user, [room]) as (ws, ready):
        ws.send_json(
            {
                "type": "message.send",
                "client_msg_id": cmid,
                "room_id": room,
                "text": "later, please",
                "scheduled_for": {"at": "2027-01-01T09:00:00Z", "tz": "Europe/Lisbon"},
                "kind": "poll",
                # A field that names one of the command's own cannot override it.
                "sender_id": str(uuid.uuid4()),
            }
        )
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
    (_, type_name, body) = gw_harness.bus.commands[0]
    assert type_name == "message.send.v1"
    assert body == {
        "client_msg_id": cmid,
        "room_id": room,
        "sender_id": user,
        "session_id": ready["session_id"],
        "text": "later, please",
        "gateway_id": gw_harness.gateway.gateway_id,
        "connection_id": ready["connection_id"],
        "kind": "poll",
        "scheduled_for": {"at": "2027-01-01T09:00:00Z", "tz": "Europe/Lisbon"},
    }
