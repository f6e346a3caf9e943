"""Producers' body builders against the schemas their consumers validate with.

The runtime validates every publish, but an outbox row that fails there would be stuck; these
checks catch a builder drifting from its contract before anything is written. Services not written
yet are skipped.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import chat_contracts
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.contract

TEXT = st.text(min_size=1, max_size=300).filter(lambda t: not t.isspace())
MOMENTS = st.datetimes(timezones=st.just(UTC))


def _module(name: str) -> Any:
    return pytest.importorskip(name, reason=f"{name} not written yet")


def _need(module: Any, *names: str) -> None:
    missing = [n for n in names if not hasattr(module, n)]
    if missing:
        pytest.skip(f"{module.__name__} has no {', '.join(missing)} (API changed?)")


@settings(max_examples=60, deadline=None)
@given(text=TEXT, seq=st.integers(1, 2**53), created_at=MOMENTS)
def test_message_service_message_json_is_a_contract_message(
    text: str, seq: int, created_at: datetime
) -> None:
    wire = _module("message_service.wire")
    model = _module("message_service.domain.model")
    _need(wire, "message_json")
    _need(model, "Message")
    message = model.Message(
        id=uuid.uuid4(),
        room_id=uuid.uuid4(),
        seq=seq,
        kind="text",
        sender_id=uuid.uuid4(),
        text=text,
        client_msg_id=uuid.uuid4(),
        created_at=created_at,
    )
    body = wire.message_json(message)
    chat_contracts.validate("message.created.v1", {"message": body})
    chat_contracts.validate(
        "message.accepted.v1", {"client_msg_id": body["client_msg_id"], "message": body}
    )
    chat_contracts.validate("ws.server.message.new.v1", {"type": "message.new", "message": body})


@settings(max_examples=30, deadline=None)
@given(status=st.sampled_from(["online", "away", "offline"]), seen=st.floats(0, 4e9))
def test_presence_change_body_is_a_contract_presence_change(status: str, seen: float) -> None:
    bus = _module("presence_service.bus")
    announcer = _module("presence_service.domain.announcer")
    _need(bus, "change_body")
    _need(announcer, "Change")
    change = announcer.Change(user_id=str(uuid.uuid4()), status=status, last_seen_at=seen)
    body = bus.change_body(change)
    chat_contracts.validate("presence.changed.v1", body)
    chat_contracts.validate("ws.server.presence.v1", {"type": "presence", **body})
