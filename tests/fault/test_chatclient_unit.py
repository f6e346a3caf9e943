"""The test client's own rules (no I/O): merge by seq, gap detection, ack and error handling.
The fault tests trust these to build every member's final view, so they are pinned here."""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

import orjson
import pytest
from chatclient import (
    RESEND_AFTER_S,
    RETRY_AFTER_ERROR_S,
    ChatApi,
    ChatClient,
    Pending,
    RoomView,
    User,
)

pytestmark = pytest.mark.unit

ROOM = str(uuid.uuid4())


def message(seq: int, *, room: str = ROOM, client_msg_id: str | None = None) -> dict[str, Any]:
    return {
        "id": f"m{seq}",
        "room_id": room,
        "seq": seq,
        "kind": "text",
        "sender_id": "u",
        "text": f"#{seq}",
        "client_msg_id": client_msg_id or str(uuid.uuid4()),
        "created_at": "2026-11-26T17:00:00.000Z",
    }


def client() -> ChatClient:
    return ChatClient(cast(ChatApi, None), User("u", "name", "pw"), ["ws://x"], [ROOM])


def test_view_merges_by_seq_and_reports_gaps() -> None:
    view = RoomView()
    assert view.merge(message(1)) is False
    assert view.merge(message(3)) is True  # 2 is missing: fetch after_seq=1
    assert view.contiguous == 1
    assert view.merge(message(2)) is False
    assert view.contiguous == 3
    assert view.merge(message(2)) is False  # a live frame twice is shown once
    assert view.ordered_ids() == ["m1", "m2", "m3"]


def test_view_refuses_two_messages_with_one_seq() -> None:
    view = RoomView()
    view.merge(message(1))
    other = message(1) | {"id": "other"}
    with pytest.raises(AssertionError, match="two messages with seq 1"):
        view.merge(other)


def test_ack_empties_the_outbox_and_a_gap_asks_for_a_sync() -> None:
    c = client()
    c.outbox["a"] = Pending(ROOM, "hi")
    c._acked_all.clear()
    c._on_frame({"type": "message.ack", "client_msg_id": "a", "message": message(2)})
    assert c.outbox == {}
    assert c._acked_all.is_set()
    assert c.acked["a"]["seq"] == 2
    assert c._sync_wanted.is_set()  # seq 1 was never seen


def test_retryable_error_keeps_the_send_and_refusal_drops_it() -> None:
    c = client()
    c.outbox["a"] = Pending(ROOM, "hi", last_sent=100.0)
    c.outbox["b"] = Pending(ROOM, "hi", last_sent=100.0)
    c._on_frame({"type": "error", "code": "unavailable", "message": "x", "ref": "a"})
    c._on_frame({"type": "error", "code": "internal", "message": "x", "ref": "b"})
    # Kept under the same client_msg_id and due for a resend RETRY_AFTER_ERROR_S from now.
    due_in = c.outbox["a"].last_sent + RESEND_AFTER_S - time.monotonic()
    assert 0 < due_in <= RETRY_AFTER_ERROR_S
    assert "b" not in c.outbox
    assert c.rejected == {"b": "internal"}


def test_resync_and_a_second_ack_with_another_message_are_recorded() -> None:
    c = client()
    c._on_frame({"type": "resync"})
    assert c.resyncs == 1
    assert c._sync_wanted.is_set()
    c._on_frame({"type": "message.ack", "client_msg_id": "a", "message": message(1)})
    c._on_frame({"type": "message.ack", "client_msg_id": "a", "message": message(1) | {"id": "x"}})
    assert c.violations  # one send, two different messages: the test must fail on it


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, raw: str) -> None:
        self.sent.append(orjson.loads(raw))


async def test_entries_of_every_kind_go_out_with_their_fields() -> None:
    c = client()
    ws = FakeSocket()
    c.ws = cast(Any, ws)
    c._ready.set()
    await c.send(ROOM, "hi")
    await c.send(ROOM, "fixed", kind="edit", target_id="t")
    await c.send(ROOM, kind="delete", target_id="t")
    await c.send(ROOM, kind="reaction", target_id="t", emoji="👍", added=False)
    stripped = [{k: v for k, v in f.items() if k not in ("client_msg_id", "type")} for f in ws.sent]
    assert stripped == [
        {"room_id": ROOM, "text": "hi"},
        {"room_id": ROOM, "kind": "edit", "target_id": "t", "text": "fixed"},
        {"room_id": ROOM, "kind": "delete", "target_id": "t"},
        {"room_id": ROOM, "kind": "reaction", "target_id": "t", "emoji": "👍", "added": False},
    ]
    assert set(c.sent) == {f["client_msg_id"] for f in ws.sent}


def test_a_noop_ack_is_recorded_and_its_target_copy_updates_the_room() -> None:
    c = client()
    c._on_frame({"type": "message.new", "message": message(1)})
    target = message(1) | {
        "state_seq": 2,
        "reactions": [{"emoji": "👍", "count": 1, "user_ids": ["u"]}],
    }
    c.outbox["r"] = Pending(ROOM, "", entry={"kind": "reaction"})
    c._on_frame({"type": "message.ack", "client_msg_id": "r", "message": target, "noop": True})
    assert c.noops == {"r"}
    assert c.acked["r"]["id"] == "m1"
    state = c.views[ROOM].timeline.texts["m1"]
    assert (state.state_seq, state.reactions["👍"].count) == (2, 1)
