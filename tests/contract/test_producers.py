"""Producers' body builders against the schemas their consumers validate with.

Nothing validates at publish (the consumer decodes once, per hop), so a builder drifting from its
contract would only show at the consumer, as dead letters; these property tests catch it first.
Each body must pass the JSON Schema (on `msgspec.to_builtins`) and come back equal from
`chat_contracts.decode` of its encoded bytes. The gateway's builders (commands, presence signals
and server frames) are checked in test_gateway_frames.py, through its handlers.
"""

from __future__ import annotations

import typing
import uuid
from datetime import UTC, datetime, timedelta, timezone

import chat_contracts
import msgspec
import pytest
from auth_service import events as auth_events
from auth_service.domain.sessions import RevokeReason
from auth_service.revocations import reply_of
from auth_service.store import RevokedSession, UserRecord
from auth_service.wire import user_of
from chat_contracts import names, types
from hypothesis import given, settings
from hypothesis import strategies as st
from message_service import wire
from message_service.domain.model import Message, MessageKind, Reaction
from message_service.domain.sending import Created, Duplicate, RejectCode, Rejected, SendCommand
from message_service.services import events as message_events
from presence_service.bus.change_publisher import change_event
from presence_service.domain.announcer import Change

pytestmark = pytest.mark.contract

TEXT = st.text(min_size=1, max_size=300).filter(lambda t: not t.isspace())
# Any zone: builders write UTC. Bounded so that moving to UTC stays within datetime's years.
MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)
IDS = st.uuids()


def _check(body: msgspec.Struct) -> str:
    """A body as its consumer takes it: the schema accepts it and decode gives it back."""
    type_name = chat_contracts.contract_of(body)
    chat_contracts.validate(type_name, msgspec.to_builtins(body))
    assert chat_contracts.decode(type_name, chat_contracts.encode(body)) == body
    return type_name


# -- message-service ----------------------------------------------------------------------------

MESSAGES = st.builds(
    Message,
    id=IDS,
    room_id=IDS,
    seq=st.integers(1, 2**53),
    kind=st.sampled_from(typing.get_args(MessageKind)),
    sender_id=IDS,
    text=TEXT,
    client_msg_id=IDS,
    created_at=MOMENTS,
    # api-v1.1 A fields, present or not whatever the kind: the wire must stay valid either way.
    target_id=st.none() | IDS,
    emoji=st.none() | st.sampled_from(["👍", "❤️", "👩🏽‍💻"]),
    added=st.none() | st.booleans(),
    event=st.none() | st.sampled_from(["member_joined", "member_left", "renamed"]),
    actor_id=st.none() | IDS,
    subject_id=st.none() | IDS,
    value=st.none() | TEXT,
    edited_at=st.none() | MOMENTS,
    deleted=st.booleans(),
    state_seq=st.none() | st.integers(1, 2**53),
    reactions=st.lists(
        st.builds(
            Reaction,
            emoji=st.sampled_from(["👍", "🎉"]),
            count=st.integers(1, 100),
            user_ids=st.lists(IDS, max_size=3).map(tuple),
        ),
        max_size=3,
    ).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(message=MESSAGES)
def test_message_service_message_is_the_contract_message(message: Message) -> None:
    struct = wire.message_struct(message)
    _check(types.MessageCreatedV1(message=struct))
    # REST returns the same object (api-v1 §4) as the events carry.
    body = wire.message_json(message)
    assert body == msgspec.to_builtins(struct)
    chat_contracts.validate("ws.server.message.new.v1", {"type": "message.new", "message": body})


@settings(max_examples=60, deadline=None)
@given(
    message=MESSAGES,
    code=st.sampled_from(typing.get_args(RejectCode)),
    detail=st.text(max_size=200),
    joined=st.booleans(),
    seq=st.integers(1, 2**53),
)
def test_message_service_events_are_contract_events(
    message: Message, code: RejectCode, detail: str, joined: bool, seq: int
) -> None:
    cmd = SendCommand(message.client_msg_id, message.room_id, message.sender_id, message.text)
    room, user = str(message.room_id), str(message.sender_id)
    outbox = [
        *message_events.outcome_events(cmd, Created(message), rejections=True),
        *message_events.outcome_events(cmd, Duplicate(message, True), rejections=True),
        *message_events.outcome_events(cmd, Rejected(code, detail), rejections=True),
        *message_events.membership_events(message.room_id, message.sender_id, joined=joined),
        message_events.read_event(message.room_id, message.sender_id, seq),
    ]
    room_scoped = {
        names.MESSAGE_CREATED_V1,
        names.MEMBER_JOINED_V1,
        names.MEMBER_LEFT_V1,
        names.READ_V1,
    }
    seen = set()
    for event in outbox:
        type_name = _check(event.body)
        seen.add(type_name)
        if type_name in room_scoped:
            assert event.routing_key == names.room_key(room, type_name)
        else:
            assert event.routing_key == names.user_key(user, type_name)
        assert event.exchange == names.EXCHANGE_EVENTS
    assert len(seen) == 6


# -- presence-service ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    user_id=IDS,
    status=st.sampled_from(["online", "away", "offline"]),
    seen=st.floats(0, 4e9) | st.integers(0, 4_000_000_000),
)
def test_presence_change_event_is_a_contract_presence_change(
    user_id: uuid.UUID, status: types.PresenceStatus, seen: float
) -> None:
    body = change_event(Change(user_id=str(user_id), status=status, last_seen_at=seen))
    assert _check(body) == names.PRESENCE_CHANGED_V1
    # The gateway forwards it to subscribers as the `presence` frame, field for field.
    frame = {"type": "presence", **msgspec.to_builtins(body)}
    chat_contracts.validate("ws.server.presence.v1", frame)


# -- auth-service -------------------------------------------------------------------------------

USERS = st.builds(
    UserRecord,
    id=IDS,
    username=st.from_regex(r"[a-z0-9_.-]{3,32}", fullmatch=True),
    # Display names as auth-service admits them: no control characters, and no lone surrogates
    # (its JSON parser refuses them, so no stored record has one).
    display_name=st.text(
        st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=64
    ),
    password_hash=st.just("$argon2id$..."),
    created_at=MOMENTS,
)
REVOKED = st.builds(RevokedSession, session_id=IDS, user_id=IDS, revoked_at=MOMENTS)


@settings(max_examples=40, deadline=None)
@given(user=USERS)
def test_auth_user_registered_is_a_contract_event(user: UserRecord) -> None:
    assert _check(types.AuthUserRegisteredV1(user=user_of(user))) == names.AUTH_USER_REGISTERED_V1


@settings(max_examples=40, deadline=None)
@given(revoked=REVOKED, reason=st.sampled_from(list(RevokeReason)))
def test_auth_session_revoked_is_a_contract_event(
    revoked: RevokedSession, reason: RevokeReason
) -> None:
    body = auth_events.session_revoked(revoked, reason)
    assert _check(body) == names.AUTH_SESSION_REVOKED_V1


@settings(max_examples=30, deadline=None)
@given(revoked=st.lists(REVOKED, max_size=5))
def test_auth_revocations_reply_is_a_contract_reply(revoked: list[RevokedSession]) -> None:
    assert _check(reply_of(revoked)) == names.AUTH_REVOCATIONS_REPLY_V1
