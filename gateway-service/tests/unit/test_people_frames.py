"""Threads, thread reads and room updates at the gateway (api-v1.1 A, B).

- A reply (`message.send` with `thread_root_id`) is forwarded while `threads` is on and refused
  `feature_disabled` while it is off; a `read` with `thread_root_id` likewise becomes
  `room.read.v1` carrying it (members only, as a room read).
- `read.v1` with `thread_root_id` (a thread read position is private) reaches only the reader's
  own sockets; a room read still reaches the room.
- `room.updated.v1` on `user.<id>.*` becomes `{"type": "room.updated", "room"}` for that user's
  sockets only, the room passed on as it arrived.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import chat_contracts
import pytest
from chat_contracts import names, types
from gateway_service.domain.frames import rfc3339
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.unit

ORIGIN = {"origin": "http://localhost:8080"}


def new_id() -> str:
    return str(uuid.uuid4())


@contextlib.contextmanager
def connected(
    h: Any, user_id: str, rooms: list[str]
) -> Iterator[tuple[WebSocketTestSession, dict[str, Any]]]:
    h.bus.rooms[user_id] = rooms
    token = h.verifier.issue(user_id)
    with h.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=ORIGIN) as ws:
        ws.send_json({"type": "auth", "token": token})
        ready = ws.receive_json()
        assert ready["type"] == "ready", ready
        yield ws, ready


def heard(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    """Every frame before the `pong` to a `ping` sent now (never blocks on a missing frame)."""
    ws.send_json({"type": "ping"})
    frames = []
    while (frame := ws.receive_json()) != {"type": "pong"}:
        frames.append(frame)
    return frames


def room_json(room_id: str) -> dict[str, Any]:
    """A room as GET /v1/rooms lists it, with the api-v1.1 B fields and one no release knows."""
    return {
        "id": room_id,
        "kind": "channel",
        "name": "design",
        "visibility": "public",
        "created_by": new_id(),
        "created_at": "2026-11-26T15:04:05.123Z",
        "member_count": 3,
        "last_seq": 42,
        "last_read_seq": 40,
        "unread_count": 2,
        "last_activity_at": "2026-11-26T15:04:05.123Z",
        "mention_count": 1,
        "notify": "none",
        "pinned_order": 7,  # unknown here: carried as it came
    }


# --- replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"text": "+1", "thread_root_id": "ROOT"},
        {"kind": "reaction", "target_id": new_id(), "emoji": "\N{THUMBS UP SIGN}", "added": True,
         "thread_root_id": "ROOT"},
    ],
    ids=["reply", "reaction_in_a_thread"],
)  # fmt: skip
def test_a_reply_is_forwarded_while_threads_is_on(gw_harness: Any, extra: dict[str, Any]) -> None:
    user, room, root, cmid = new_id(), new_id(), new_id(), new_id()
    frame = {"type": "message.send", "client_msg_id": cmid, "room_id": room} | extra
    frame["thread_root_id"] = root.upper()  # either case is a valid uuid
    with connected(gw_harness, user, [room]) as (ws, ready):
        assert "threads" in ready["features"]
        ws.send_json(frame)
        assert heard(ws) == []
        assert gw_harness.gateway.pending.take(user, cmid) is not None
    ((key, type_name, body),) = gw_harness.bus.commands
    assert type_name == names.MESSAGE_SEND_V1
    assert key in {
        names.send_routing_key(s) for s in range(gw_harness.gateway.settings.send_shards)
    }
    assert body["thread_root_id"].lower() == root
    chat_contracts.validate(names.MESSAGE_SEND_V1, body)


def test_a_reply_is_feature_disabled_while_threads_is_off(gw_features_off: Any) -> None:
    user, room, cmid = new_id(), new_id(), new_id()
    frame = {
        "type": "message.send",
        "client_msg_id": cmid,
        "room_id": room,
        "text": "+1",
        "thread_root_id": new_id(),
    }
    with connected(gw_features_off, user, [room]) as (ws, _):
        ws.send_json(frame)
        (err,) = heard(ws)
        assert (err["type"], err["code"], err["ref"]) == ("error", "feature_disabled", cmid)
    assert gw_features_off.bus.commands == []


# --- thread reads -------------------------------------------------------------------------------


def test_a_thread_read_becomes_a_room_read_command_carrying_the_root(gw_harness: Any) -> None:
    user, room, root = new_id(), new_id(), new_id()
    with connected(gw_harness, user, [room]) as (ws, _):
        ws.send_json({"type": "read", "room_id": room, "seq": 44, "thread_root_id": root.upper()})
        ws.send_json({"type": "read", "room_id": room, "seq": 45})
        assert heard(ws) == []
    shards = {names.read_routing_key(s) for s in range(gw_harness.gateway.settings.send_shards)}
    (k1, t1, thread_read), (k2, t2, room_read) = gw_harness.bus.commands
    assert {k1, k2} <= shards
    assert t1 == t2 == names.ROOM_READ_V1
    assert thread_read == {"room_id": room, "user_id": user, "seq": 44, "thread_root_id": root}
    assert room_read == {"room_id": room, "user_id": user, "seq": 45}
    for body in (thread_read, room_read):
        chat_contracts.validate(names.ROOM_READ_V1, body)


def test_a_thread_read_needs_membership_and_threads(gw_harness: Any, gw_features_off: Any) -> None:
    user, room, elsewhere = new_id(), new_id(), new_id()
    read = {"type": "read", "room_id": elsewhere, "seq": 3, "thread_root_id": new_id()}
    with connected(gw_harness, user, [room]) as (ws, _):
        ws.send_json(read)
        (err,) = heard(ws)
        assert (err["code"], err["ref"]) == ("not_a_member", "read")
    assert gw_harness.bus.commands == []
    with connected(gw_features_off, user, [room]) as (ws, _):
        ws.send_json(read | {"room_id": room})
        (err,) = heard(ws)
        assert (err["code"], err["ref"]) == ("feature_disabled", "read")
        ws.send_json({"type": "read", "room_id": room, "seq": 3})  # a room read still passes
        assert heard(ws) == []
    assert [c[1] for c in gw_features_off.bus.commands] == [names.ROOM_READ_V1]


def test_a_thread_read_position_reaches_only_the_readers_own_sockets(gw_harness: Any) -> None:
    ana, ben, room, root = new_id(), new_id(), new_id(), new_id()
    with (
        connected(gw_harness, ana, [room]) as (ana_tab, _),
        connected(gw_harness, ana, [room]) as (ana_other_tab, _),
        connected(gw_harness, ben, [room]) as (ben_tab, _),
    ):
        event = {"room_id": room, "user_id": ana, "seq": 44, "thread_root_id": root}
        gw_harness.event(names.READ_V1, event)
        expected = {"type": "read", **event}
        assert heard(ana_tab) == [expected]
        assert heard(ana_other_tab) == [expected]
        assert heard(ben_tab) == []
        # A room read position is the room's, as before.
        gw_harness.event(names.READ_V1, {"room_id": room, "user_id": ana, "seq": 45})
        room_read = {"type": "read", "room_id": room, "user_id": ana, "seq": 45}
        for tab in (ana_tab, ana_other_tab, ben_tab):
            assert heard(tab) == [room_read]


# --- room.updated -------------------------------------------------------------------------------


def test_room_updated_reaches_that_users_sockets_with_the_room_as_it_came(
    gw_harness: Any,
) -> None:
    ana, ben, room = new_id(), new_id(), new_id()
    with (
        connected(gw_harness, ana, [room]) as (ana_tab, _),
        connected(gw_harness, ana, []) as (ana_tab_without_room, _),
        connected(gw_harness, ben, [room]) as (ben_tab, _),
    ):
        updated = room_json(room)
        gw_harness.event(names.ROOM_UPDATED_V1, {"user_id": ana, "room": updated})
        expected = {"type": "room.updated", "room": updated}
        assert heard(ana_tab) == [expected]
        assert heard(ana_tab_without_room) == [expected]
        assert heard(ben_tab) == []
        chat_contracts.validate(chat_contracts.contract_of(types.WsServerRoomUpdatedV1), expected)


def test_room_updated_for_a_user_without_sockets_here_is_dropped(gw_harness: Any) -> None:
    ben, room = new_id(), new_id()
    with connected(gw_harness, ben, [room]) as (ben_tab, _):
        gw_harness.event(names.ROOM_UPDATED_V1, {"user_id": new_id(), "room": room_json(room)})
        assert heard(ben_tab) == []


# --- deactivation -------------------------------------------------------------------------------


def _drain(ws: WebSocketTestSession) -> None:
    for _ in range(50):
        ws.receive_json()


def _closed_with(ws: WebSocketTestSession) -> int:
    with pytest.raises(WebSocketDisconnect) as info:
        _drain(ws)
    return info.value.code


def test_a_deactivation_closes_every_session_of_the_user_and_refuses_its_tokens(
    gw_tokens: Any,
) -> None:
    """auth-service revokes each session of a deactivated user (reason `deactivated`): each of
    their sockets closes 4401 as the revocation is handled, other users' stay, and the old
    tokens no longer sign in."""
    ana, ben, room = new_id(), new_id(), new_id()
    laptop, phone = new_id(), new_id()
    gw_tokens.bus.rooms.update({ana: [room], ben: [room]})

    def sign_in(user: str, session_id: str) -> Any:
        token = gw_tokens.verifier.issue(user, session_id=session_id)
        ws = gw_tokens.client.websocket_connect("/v1/ws", subprotocols=["chat.v1"], headers=ORIGIN)
        return token, ws

    (laptop_token, laptop_ws), (phone_token, phone_ws) = sign_in(ana, laptop), sign_in(ana, phone)
    _, ben_ws = sign_in(ben, new_id())
    with laptop_ws as a1, phone_ws as a2, ben_ws as b:
        for ws, token in ((a1, laptop_token), (a2, phone_token)):
            ws.send_json({"type": "auth", "token": token})
            assert ws.receive_json()["type"] == "ready"
        b.send_json({"type": "auth", "token": gw_tokens.verifier.issue(ben, session_id=new_id())})
        assert b.receive_json()["type"] == "ready"
        gw = gw_tokens.gateway
        anas = [gw.sessions[c] for c in gw.registry.connections_of_user(ana)]
        assert len(anas) == 2
        for session_id in (laptop, phone):
            gw_tokens.event(
                names.AUTH_SESSION_REVOKED_V1,
                {
                    "session_id": session_id,
                    "user_id": ana,
                    "revoked_at": rfc3339(datetime.now(UTC)),
                    "reason": "deactivated",
                },
            )
        # Told to close while the revocation was handled (no timer, no sweep in between).
        assert all(session.output.closing for session in anas)
        assert _closed_with(a1) == _closed_with(a2) == 4401
        assert heard(b) == []
    for token in (laptop_token, phone_token):
        with gw_tokens.client.websocket_connect(
            "/v1/ws", subprotocols=["chat.v1"], headers=ORIGIN
        ) as ws:
            ws.send_json({"type": "auth", "token": token})
            assert ws.receive_json()["code"] == "unauthorized"
            assert _closed_with(ws) == 4401
