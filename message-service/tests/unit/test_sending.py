"""Seq assignment, dedup and rules of a batch of sends (pure domain, no I/O)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from message_service.domain.model import Message
from message_service.domain.sending import (
    Created,
    Duplicate,
    Rejected,
    RoomState,
    SendCommand,
    plan_batch,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 15, 4, 5, tzinfo=UTC)
ROOMS = [UUID(int=i + 1) for i in range(3)]
USERS = [UUID(int=100 + i) for i in range(3)]
CLIENT_IDS = [UUID(int=1000 + i) for i in range(6)]


def ids() -> Callable[[], UUID]:
    counter = itertools.count(1)
    return lambda: UUID(int=10_000 + next(counter))


def cmd(room: UUID, sender: UUID, client: UUID | None = None, text: str = "hi") -> SendCommand:
    return SendCommand(
        client_msg_id=client or uuid.uuid4(), room_id=room, sender_id=sender, text=text
    )


def state(last_seq: int = 0, members: tuple[UUID, ...] = tuple(USERS)) -> RoomState:
    return RoomState(last_seq=last_seq, members=frozenset(members))


def stored(room: UUID, sender: UUID, client: UUID, seq: int = 1, text: str = "hi") -> Message:
    """A stored text entry from before api-v1.1 (no content hash: its text is compared)."""
    return Message(uuid.uuid4(), room, seq, "text", sender, text, client, NOW)


def test_seq_continues_from_last_seq_per_room_in_arrival_order() -> None:
    a, b = ROOMS[0], ROOMS[1]
    commands = [cmd(a, USERS[0]), cmd(b, USERS[1]), cmd(a, USERS[1]), cmd(a, USERS[0])]
    plan = plan_batch(commands, {a: state(7), b: state(0)}, {}, now=NOW, new_id=ids())
    assert [(m.room_id, m.seq) for m in plan.new_messages] == [(a, 8), (b, 1), (a, 9), (a, 10)]
    assert plan.last_seqs == {a: 10, b: 1}
    assert plan.read_positions == {(a, USERS[0]): 10, (b, USERS[1]): 1, (a, USERS[1]): 9}


def test_existing_send_in_same_room_is_a_duplicate_that_reemits() -> None:
    room, user, client = ROOMS[0], USERS[0], CLIENT_IDS[0]
    original = stored(room, user, client, seq=3)
    plan = plan_batch(
        [cmd(room, user, client)],
        {room: state(5)},
        {(user, client): original},
        now=NOW,
        new_id=ids(),
    )
    assert plan.outcomes == [Duplicate(original, reemit_created=True)]
    assert plan.new_messages == []
    assert plan.last_seqs == {}


def test_same_client_msg_id_in_another_room_is_refused() -> None:
    user, client = USERS[0], CLIENT_IDS[0]
    original = stored(ROOMS[0], user, client)
    plan = plan_batch(
        [cmd(ROOMS[1], user, client)],
        {ROOMS[1]: state()},
        {(user, client): original},
        now=NOW,
        new_id=ids(),
    )
    assert plan.outcomes == [Rejected("client_msg_id_reused", plan.outcomes[0].detail)]  # type: ignore[union-attr]


def test_duplicate_inside_one_batch_is_one_message() -> None:
    room, user, client = ROOMS[0], USERS[0], CLIENT_IDS[0]
    plan = plan_batch(
        [cmd(room, user, client), cmd(room, user, client)],
        {room: state()},
        {},
        now=NOW,
        new_id=ids(),
    )
    first, second = plan.outcomes
    assert isinstance(first, Created)
    assert second == Duplicate(first.message, reemit_created=False)
    assert len(plan.new_messages) == 1


def test_in_batch_reuse_in_other_room_is_refused() -> None:
    user, client = USERS[0], CLIENT_IDS[0]
    plan = plan_batch(
        [cmd(ROOMS[0], user, client), cmd(ROOMS[1], user, client)],
        {ROOMS[0]: state(), ROOMS[1]: state()},
        {},
        now=NOW,
        new_id=ids(),
    )
    assert isinstance(plan.outcomes[0], Created)
    assert isinstance(plan.outcomes[1], Rejected)
    assert plan.outcomes[1].code == "client_msg_id_reused"


def test_non_member_and_unknown_room_are_refused_without_using_a_seq() -> None:
    room = ROOMS[0]
    commands = [cmd(room, USERS[2]), cmd(ROOMS[2], USERS[0]), cmd(room, USERS[0])]
    plan = plan_batch(commands, {room: state(0, (USERS[0],))}, {}, now=NOW, new_id=ids())
    codes = [o.code if isinstance(o, Rejected) else "ok" for o in plan.outcomes]
    assert codes == ["not_a_member", "not_a_member", "ok"]
    assert [m.seq for m in plan.new_messages] == [1]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "bad_request"),
        ("  \n\t", "bad_request"),
        ("x" * 4001, "message_too_long"),
        ("a\x00b", "bad_request"),
    ],
)
def test_text_rules_refuse(text: str, code: str) -> None:
    room = ROOMS[0]
    plan = plan_batch([cmd(room, USERS[0], text=text)], {room: state()}, {}, now=NOW, new_id=ids())
    assert isinstance(plan.outcomes[0], Rejected)
    assert plan.outcomes[0].code == code
    assert plan.new_messages == []


def test_text_is_kept_verbatim_and_4000_emoji_pass() -> None:
    room = ROOMS[0]
    texts = ["  padded  ", "😀" * 4000]
    plan = plan_batch(
        [cmd(room, USERS[0], text=t) for t in texts], {room: state()}, {}, now=NOW, new_id=ids()
    )
    assert [m.text for m in plan.new_messages] == texts


def test_dedup_is_checked_before_membership() -> None:
    """A retry of a committed message is acked even after the sender left the room."""
    room, user, client = ROOMS[0], USERS[0], CLIENT_IDS[0]
    original = stored(room, user, client)
    plan = plan_batch(
        [cmd(room, user, client)],
        {room: state(1, ())},
        {(user, client): original},
        now=NOW,
        new_id=ids(),
    )
    assert plan.outcomes == [Duplicate(original, reemit_created=True)]


# --- properties ---------------------------------------------------------------------------------

command_strategy = st.builds(
    SendCommand,
    client_msg_id=st.sampled_from(CLIENT_IDS),
    room_id=st.sampled_from(ROOMS),
    sender_id=st.sampled_from(USERS),
    text=st.sampled_from(["hello", " ", "x" * 4001, "ok ok"]),
)


@settings(max_examples=300, deadline=None)
@given(
    commands=st.lists(command_strategy, max_size=40),
    start=st.dictionaries(st.sampled_from(ROOMS), st.integers(0, 50)),
)
def test_seq_is_gapless_and_follows_arrival_order(
    commands: list[SendCommand], start: dict[UUID, int]
) -> None:
    rooms = {r: state(seq) for r, seq in start.items()}
    plan = plan_batch(commands, rooms, {}, now=NOW, new_id=ids())
    for room, room_state in rooms.items():
        seqs = [m.seq for m in plan.new_messages if m.room_id == room]
        assert seqs == list(range(room_state.last_seq + 1, room_state.last_seq + 1 + len(seqs)))
        if seqs:
            assert plan.last_seqs[room] == seqs[-1]
    # new messages appear in the order their commands arrived
    created = [o.message for o in plan.outcomes if isinstance(o, Created)]
    assert created == plan.new_messages
    assert all(m.room_id in rooms for m in plan.new_messages)


@settings(max_examples=300, deadline=None)
@given(commands=st.lists(command_strategy, max_size=40))
def test_dedup_is_idempotent(commands: list[SendCommand]) -> None:
    """Replaying the batch against its own result creates nothing new and answers the same."""
    rooms = {r: state(0) for r in ROOMS}
    first = plan_batch(commands, rooms, {}, now=NOW, new_id=ids())
    keys = [(m.sender_id, m.client_msg_id) for m in first.new_messages]
    assert len(keys) == len(set(keys))  # (sender, client_msg_id) unique
    existing = {(m.sender_id, m.client_msg_id): m for m in first.new_messages}
    after = {r: state(first.last_seqs.get(r, 0)) for r in ROOMS}
    replay = plan_batch(commands, after, existing, now=NOW, new_id=ids())
    assert replay.new_messages == []
    for before, again in zip(first.outcomes, replay.outcomes, strict=True):
        if isinstance(before, Created | Duplicate):
            assert isinstance(again, Duplicate)
            assert again.message == before.message
            assert again.reemit_created
        # A refused command may later be answered with the message its client_msg_id got in
        # the end (the retry of a fixed send), never with a new one.
