"""Edit, delete and reaction entries at the gateway (api-v1.1 A, feature `entries`).

- Their sends are forwarded with every field while `entries` is on, refused `feature_disabled`
  while it is off (`CHAT_FEATURES=`), and attachments are `unsupported` either way.
- Acks go to the entry's sender: `created` by the entry's own sender_id, `accepted` by its
  `sender_id` (0.2.0 producers: `message.sender_id`); a no-op reaction's `accepted` carries the
  current target (somebody else's entry) and becomes `message.ack` with `noop: true`.
- Refusals (`forbidden`, `not_found`...) reach the sending connection as `error` frames.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession

pytestmark = pytest.mark.unit

ORIGIN = {"origin": "http://localhost:8080"}
THUMBS_UP = "\N{THUMBS UP SIGN}"


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


def heard(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    """Every frame the socket got before the `pong` to a `ping` sent now: the answers to the
    frames it sent before, and the events delivered before (frames are handled in order, and
    `gw_harness.event` returns once its frames are written). Never blocks on a missing frame."""
    ws.send_json({"type": "ping"})
    frames = []
    while (frame := ws.receive_json()) != {"type": "pong"}:
        frames.append(frame)
    return frames


def entry_frame(kind: str, room: str, target: str) -> dict[str, Any]:
    """A client's `message.send` of an edit, delete or reaction entry."""
    frame: dict[str, Any] = {
        "type": "message.send",
        "client_msg_id": new_id(),
        "room_id": room,
        "kind": kind,
        "target_id": target,
    }
    if kind == "edit":
        frame["text"] = "fixed the typo"
    if kind == "reaction":
        frame |= {"emoji": THUMBS_UP, "added": False}
    return frame


def entry(kind: str, room: str, sender: str, cmid: str, target: str, seq: int) -> dict[str, Any]:
    """The change entry message-service emits for such a send (never embeds the target)."""
    body = message(room, sender, cmid, seq) | {"kind": kind, "target_id": target}
    if kind == "edit":
        body["text"] = "fixed the typo"
    else:
        body.pop("text")
    if kind == "reaction":
        body |= {"emoji": THUMBS_UP, "added": True}
    return body


def text_entry(room: str, sender: str, seq: int = 1) -> dict[str, Any]:
    """A v1.1 text entry with its current state (and a field only a later release knows)."""
    return message(room, sender, new_id(), seq) | {
        "edited_at": None,
        "deleted": False,
        "reactions": [{"emoji": THUMBS_UP, "count": 1, "user_ids": [sender]}],
        "state_seq": seq + 3,
        "pinned_by": {"user_id": sender},  # unknown here: carried as it came
    }


# --- which sends pass ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["edit", "delete", "reaction"])
def test_entry_sends_are_forwarded_with_every_field_while_entries_is_on(
    gw_harness: Any, kind: str
) -> None:
    user, room, target = new_id(), new_id(), new_id()
    frame = entry_frame(kind, room, target)
    with connected(gw_harness, user, [room]) as (ws, ready):
        ws.send_json(frame)
        assert heard(ws) == []  # no error
        assert gw_harness.gateway.pending.take(user, frame["client_msg_id"]) is not None
    (_, type_name, body) = gw_harness.bus.commands[0]
    assert type_name == "message.send.v1"
    sent = {k: v for k, v in frame.items() if k != "type"}
    assert body == sent | {
        "sender_id": user,
        "session_id": ready["session_id"],
        "gateway_id": gw_harness.gateway.gateway_id,
        "connection_id": ready["connection_id"],
    }


@pytest.mark.parametrize("kind", ["edit", "delete", "reaction"])
def test_entry_sends_are_feature_disabled_while_entries_is_off(
    gw_features_off: Any, kind: str
) -> None:
    user, room = new_id(), new_id()
    frame = entry_frame(kind, room, new_id())
    with connected(gw_features_off, user, [room]) as (ws, ready):
        assert ready["features"] == []
        ws.send_json(frame)
        (err,) = heard(ws)
        assert (err["type"], err["code"], err["ref"]) == (
            "error",
            "feature_disabled",
            frame["client_msg_id"],
        )
        assert err["message"]
        # A plain text message still passes.
        plain = {"type": "message.send", "client_msg_id": new_id(), "room_id": room, "text": "x"}
        ws.send_json(plain)
        assert heard(ws) == []
        assert len(gw_features_off.gateway.pending) == 1
    assert [c[1] for c in gw_features_off.bus.commands] == ["message.send.v1"]


@pytest.mark.parametrize(
    "extra",
    [
        {"attachments": [str(uuid.uuid4())]},
        {"thread_root_id": str(uuid.uuid4()), "attachments": [str(uuid.uuid4())]},
    ],
    ids=["attachment", "reply_with_attachment"],
)
def test_attachments_are_forwarded_while_on_and_stop_here_while_off(
    gw_harness: Any, gw_features_off: Any, extra: dict[str, Any]
) -> None:
    """Feature `attachments` (issue #19): message-service judges the files while it is on; while
    it is off the send stops here with `feature_disabled` (a client holds it until it is on)."""
    room = new_id()
    for harness, refused in ((gw_harness, []), (gw_features_off, ["feature_disabled"])):
        cmid = new_id()
        frame = {"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "t"}
        with connected(harness, new_id(), [room]) as (ws, _):
            ws.send_json(frame | extra)
            assert [e["code"] for e in heard(ws)] == refused
    (command,) = gw_harness.bus.commands
    assert command[1] == "message.send.v1"
    assert gw_features_off.bus.commands == []


@pytest.mark.parametrize("features", ["on", "off"])
def test_system_entries_are_unsupported(
    gw_harness: Any, gw_features_off: Any, features: str
) -> None:
    """`system` entries are only ever made by message-service. Replies alone:
    test_people_frames.py."""
    harness = gw_harness if features == "on" else gw_features_off
    user, room, cmid = new_id(), new_id(), new_id()
    frame = {"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "t"}
    with connected(harness, user, [room]) as (ws, _):
        ws.send_json(frame | {"kind": "system"})
        (err,) = heard(ws)
        assert (err["type"], err["code"], err["ref"]) == ("error", "unsupported", cmid)
    assert harness.bus.commands == []


def test_a_text_send_naming_a_target_needs_entries(gw_harness: Any, gw_features_off: Any) -> None:
    """An entries field on a text send is judged by message-service while entries is on, and
    stops here while it is off (never stored as a plain message by an older service)."""
    room = new_id()
    for harness, refused in ((gw_harness, []), (gw_features_off, ["feature_disabled"])):
        frame = {
            "type": "message.send",
            "client_msg_id": new_id(),
            "room_id": room,
            "text": "t",
            "target_id": new_id(),
        }
        with connected(harness, new_id(), [room]) as (ws, _):
            ws.send_json(frame)
            assert [f["code"] for f in heard(ws)] == refused
        assert len(harness.bus.commands) == (0 if refused else 1)


# --- acks go to the entry's sender ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["edit", "delete", "reaction"])
def test_a_change_entry_is_acked_to_its_sender_and_fanned_out(gw_harness: Any, kind: str) -> None:
    alice, bob, room = new_id(), new_id(), new_id()
    target = text_entry(room, alice)
    with (
        connected(gw_harness, alice, [room]) as (wa, _),
        connected(gw_harness, bob, [room]) as (wb, _),
    ):
        frame = entry_frame(kind, room, target["id"])
        (sender_ws, sender), other_ws = ((wa, alice), wb) if kind != "reaction" else ((wb, bob), wa)
        sender_ws.send_json(frame)
        assert heard(sender_ws) == []
        change = entry(kind, room, sender, frame["client_msg_id"], target["id"], 2)
        gw_harness.event("message.created.v1", {"message": change})
        new = {"type": "message.new", "message": change}
        ack = {"type": "message.ack", "client_msg_id": frame["client_msg_id"], "message": change}
        assert heard(sender_ws) == [ack, new]
        assert heard(other_ws) == [new]  # no ack for the target's sender


def test_a_noop_reaction_is_acked_with_noop_and_the_current_target(gw_harness: Any) -> None:
    """`accepted{noop: true}` carries the target, whose sender is somebody else: the ack goes
    to `sender_id` (the one who reacted), with the target as it came, unknown fields kept."""
    alice, bob, room = new_id(), new_id(), new_id()
    target = text_entry(room, alice)
    with (
        connected(gw_harness, alice, [room]) as (wa, _),
        connected(gw_harness, bob, [room]) as (wb, _),
        connected(gw_harness, bob, [room]) as (wb2, _),  # Bob's other tab
    ):
        frame = entry_frame("reaction", room, target["id"])
        wb.send_json(frame)
        assert heard(wb) == []
        # Alice happens to wait for a send with the same client_msg_id: not hers to ack.
        wa.send_json(
            {
                "type": "message.send",
                "client_msg_id": frame["client_msg_id"],
                "room_id": room,
                "text": "mine",
            }
        )
        assert heard(wa) == []
        body = {
            "client_msg_id": frame["client_msg_id"],
            "sender_id": bob,
            "noop": True,
            "message": target,
            "from_a_later_release": [1, 2],
        }
        gw_harness.event("message.accepted.v1", body)
        assert heard(wb) == [
            {
                "type": "message.ack",
                "client_msg_id": frame["client_msg_id"],
                "message": target,
                "noop": True,
            }
        ]
        assert heard(wa) == heard(wb2) == []  # only the sending connection heard it
        # A repeat of the same answer finds nobody waiting any more.
        gw_harness.event("message.accepted.v1", body)
        assert heard(wb) == []
        assert gw_harness.gateway.pending.take(alice, frame["client_msg_id"]) is not None


def test_a_noop_ack_matches_a_send_whose_ids_came_in_upper_case(gw_harness: Any) -> None:
    bob, room = new_id(), new_id()
    target = text_entry(room, new_id())
    with connected(gw_harness, bob, [room]) as (wb, _):
        frame = entry_frame("reaction", room, target["id"]) | {"client_msg_id": new_id().upper()}
        wb.send_json(frame)
        assert heard(wb) == []
        cmid = frame["client_msg_id"].lower()  # the gateway forwards ids in canonical form
        gw_harness.event(
            "message.accepted.v1",
            {"client_msg_id": cmid, "sender_id": bob, "noop": True, "message": target},
        )
        (ack,) = heard(wb)
        assert (ack["type"], ack["client_msg_id"], ack["noop"]) == ("message.ack", cmid, True)


def test_accepted_for_a_repeated_change_entry_acks_without_noop(gw_harness: Any) -> None:
    alice, room = new_id(), new_id()
    with connected(gw_harness, alice, [room]) as (wa, _):
        frame = entry_frame("edit", room, new_id())
        wa.send_json(frame)
        assert heard(wa) == []
        change = entry("edit", room, alice, frame["client_msg_id"], frame["target_id"], 7)
        body = {"client_msg_id": frame["client_msg_id"], "sender_id": alice, "message": change}
        gw_harness.event("message.accepted.v1", body)
        assert heard(wa) == [
            {"type": "message.ack", "client_msg_id": frame["client_msg_id"], "message": change}
        ]


def test_accepted_without_sender_id_from_a_0_2_0_producer_acks_the_message_sender(
    gw_harness: Any,
) -> None:
    alice, room, cmid = new_id(), new_id(), new_id()
    with connected(gw_harness, alice, [room]) as (wa, _):
        wa.send_json({"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "a"})
        assert heard(wa) == []
        msg = message(room, alice, cmid)
        gw_harness.event("message.accepted.v1", {"client_msg_id": cmid, "message": msg})
        assert heard(wa) == [{"type": "message.ack", "client_msg_id": cmid, "message": msg}]


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["forbidden", "not_found", "bad_request", "client_msg_id_reused"])
def test_a_refused_change_reaches_the_sending_connection_as_an_error(
    gw_harness: Any, code: str
) -> None:
    alice, bob, room = new_id(), new_id(), new_id()
    with (
        connected(gw_harness, alice, [room]) as (wa, _),
        connected(gw_harness, bob, [room]) as (wb, _),
        connected(gw_harness, bob, [room]) as (wb2, _),
    ):
        frame = entry_frame("edit", room, new_id())
        wb.send_json(frame)
        assert heard(wb) == []
        rejected = {
            "client_msg_id": frame["client_msg_id"],
            "room_id": room,
            "sender_id": bob,
            "code": code,
            "message": "You can only edit your own messages.",
        }
        gw_harness.event("message.rejected.v1", rejected)
        assert heard(wb) == [
            {
                "type": "error",
                "code": code,
                "message": "You can only edit your own messages.",
                "ref": frame["client_msg_id"],
            }
        ]
        assert heard(wa) == heard(wb2) == []


def test_a_refusal_without_a_waiting_connection_reaches_every_tab_of_the_sender(
    gw_harness: Any,
) -> None:
    """The send went through another gateway (or this socket reconnected): every socket of
    the sender here hears the refusal, nobody else does."""
    alice, bob, room, cmid = new_id(), new_id(), new_id(), new_id()
    with (
        connected(gw_harness, alice, [room]) as (wa, _),
        connected(gw_harness, bob, [room]) as (wb, _),
        connected(gw_harness, bob, [room]) as (wb2, _),
    ):
        gw_harness.event(
            "message.rejected.v1",
            {
                "client_msg_id": cmid,
                "room_id": room,
                "sender_id": bob,
                "code": "forbidden",
                "message": "You can only edit your own messages.",
            },
        )
        for ws in (wb, wb2):
            (err,) = heard(ws)
            assert (err["type"], err["code"], err["ref"]) == ("error", "forbidden", cmid)
        assert heard(wa) == []
