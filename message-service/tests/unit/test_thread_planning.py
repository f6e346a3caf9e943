"""Threads, mentions and deactivated direct partners in the batch planner (api-v1.1 A, B): the
refusals, a reply's effect on its root, a deleted reply, mentions on text, edit and delete,
read positions. Pure domain, no I/O."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
import pytest
from chat_contracts import types
from hypothesis import given, settings
from hypothesis import strategies as st
from message_service.domain.entries import content_hash
from message_service.domain.model import Mentions, Message
from message_service.domain.sending import (
    BatchPlan,
    Created,
    Duplicate,
    Rejected,
    RoomState,
    SendCommand,
    Stored,
    Target,
    plan_batch,
)
from message_service.wire import message_struct

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 19, 0, 0, tzinfo=UTC)
ROOM, OTHER_ROOM, DM = UUID(int=1), UUID(int=2), UUID(int=3)
ADMIN, ANA, BEN, EVE = (UUID(int=100 + i) for i in range(4))
ROOT = UUID(int=500)  # ANA's top-level text entry, seq 3
REPLY = UUID(int=501)  # BEN's reply to ROOT, seq 4


def ids() -> Callable[[], UUID]:
    counter = itertools.count(1)
    return lambda: UUID(int=10_000 + next(counter))


def rooms(**dm: Any) -> dict[UUID, RoomState]:
    return {
        ROOM: RoomState(
            last_seq=5,
            members=frozenset({ADMIN, ANA, BEN}),
            kind="channel",
            admins=frozenset({ADMIN}),
        ),
        DM: RoomState(last_seq=2, members=frozenset({ANA, BEN}), kind="direct", **dm),
    }


def entry(
    message_id: UUID = ROOT, sender: UUID = ANA, seq: int = 3, room_id: UUID = ROOM, **state: Any
) -> Message:
    return Message(
        message_id,
        room_id,
        seq,
        state.pop("kind", "text"),
        sender,
        state.pop("text", "Deploy at 4"),
        uuid.uuid4(),
        NOW - timedelta(minutes=5),
        **state,
    )


ROOT_ENTRY = entry()
REPLY_ENTRY = entry(REPLY, BEN, 4, thread_root_id=ROOT, text="on it")


def targets(*messages: Message) -> dict[UUID, Target]:
    return {m.id: Target(m) for m in messages}


def reply(sender: UUID = BEN, root: UUID = ROOT, text: str = "agreed", **kw: Any) -> SendCommand:
    return SendCommand(
        uuid.uuid4(), kw.pop("room_id", ROOM), sender, text, thread_root_id=root, **kw
    )


def text(sender: UUID = ANA, body: str = "hi", **kw: Any) -> SendCommand:
    return SendCommand(uuid.uuid4(), kw.pop("room_id", ROOM), sender, body, **kw)


def change(kind: str, sender: UUID, target: UUID, body: str = "", **kw: Any) -> SendCommand:
    return SendCommand(uuid.uuid4(), ROOM, sender, body, kind=kind, target_id=target, **kw)


def plan(
    commands: Sequence[SendCommand],
    known: Mapping[UUID, Target] | None = None,
    existing: Mapping[tuple[UUID, UUID], Stored] | None = None,
    room_states: Mapping[UUID, RoomState] | None = None,
) -> BatchPlan:
    return plan_batch(
        commands,
        room_states if room_states is not None else rooms(),
        existing or {},
        now=NOW,
        new_id=ids(),
        targets=targets(ROOT_ENTRY, REPLY_ENTRY) if known is None else known,
    )


def rejected(outcome: object) -> Rejected:
    assert isinstance(outcome, Rejected), outcome
    return outcome


# --- replies -------------------------------------------------------------------------------


def test_a_reply_updates_its_roots_summary_and_state_seq() -> None:
    result = plan([reply(ADMIN)])
    created = result.outcomes[0]
    assert isinstance(created, Created)
    assert (created.message.seq, created.message.thread_root_id) == (6, ROOT)
    (root,) = result.target_updates
    assert root.id == ROOT
    assert (root.reply_count, root.last_reply_at, root.state_seq) == (1, NOW, 6)
    assert root.participant_ids == (ADMIN,)
    # The root keeps the hash of its own send (a late repeat of it is still a duplicate).
    assert root.content_hash == content_hash(ROOM, "text", None, "Deploy at 4")


def test_replies_count_up_and_list_each_participant_once() -> None:
    result = plan([reply(BEN), reply(ADMIN), reply(BEN)])
    (root,) = result.target_updates
    assert (root.reply_count, root.state_seq, root.participant_ids) == (3, 8, (BEN, ADMIN))


def test_participants_stop_at_fifty() -> None:
    many = tuple(UUID(int=1000 + i) for i in range(50))
    full = dataclasses.replace(ROOT_ENTRY, reply_count=50, last_reply_at=NOW, participant_ids=many)
    (root,) = plan([reply(BEN)], targets(full)).target_updates
    assert root.participant_ids == many
    assert root.reply_count == 51


def test_a_reply_moves_the_senders_thread_read_position_not_the_room_or_its_activity() -> None:
    result = plan([reply(BEN), reply(BEN)])
    assert result.read_positions == {}
    assert result.active_rooms == set()
    assert result.thread_reads == {(ROOT, BEN): (ROOM, 7)}
    assert result.last_seqs == {ROOM: 7}


def test_a_top_level_text_still_moves_the_room() -> None:
    result = plan([text(ANA)], {})
    assert result.read_positions == {(ROOM, ANA): 6}
    assert result.thread_reads == {}
    assert result.target_updates == []


@pytest.mark.parametrize(
    ("root", "code"),
    [
        (None, "not_found"),  # absent
        (entry(kind="edit", target_id=UUID(int=9)), "not_found"),  # not a text entry
        (entry(kind="system", event="member_joined"), "not_found"),
        (entry(deleted=True, text=""), "not_found"),  # deleted
        (entry(room_id=OTHER_ROOM), "not_found"),  # another room's
        (REPLY_ENTRY, "bad_request"),  # a reply itself
    ],
)
def test_a_reply_needs_a_top_level_text_root_of_the_room(root: Message | None, code: str) -> None:
    root_id = root.id if root is not None else UUID(int=404)
    result = plan([reply(BEN, root_id)], targets(root) if root is not None else {})
    refusal = rejected(result.outcomes[0])
    assert (refusal.code, refusal.field) == (code, "thread_root_id")
    assert result.new_messages == []
    assert result.target_updates == []


def test_membership_is_checked_before_the_root() -> None:
    assert rejected(plan([reply(EVE, UUID(int=404))], {}).outcomes[0]).code == "not_a_member"


def test_the_root_is_checked_before_the_text() -> None:
    assert rejected(plan([reply(BEN, UUID(int=404), text="")], {}).outcomes[0]).code == "not_found"
    refusal = rejected(plan([reply(BEN, text="   ")]).outcomes[0])
    assert refusal.field == "text"


@pytest.mark.parametrize("kind", ["edit", "delete", "reaction"])
def test_change_entries_take_no_thread_root_id(kind: str) -> None:
    cmd = change(kind, ANA, ROOT, "x" if kind == "edit" else "", thread_root_id=ROOT)
    if kind == "reaction":
        cmd = dataclasses.replace(cmd, emoji="👍")
    refusal = rejected(plan([cmd]).outcomes[0])
    assert (refusal.code, refusal.field) == ("bad_request", "thread_root_id")


def test_deleting_a_reply_counts_one_less_on_its_root_and_moves_its_state_seq() -> None:
    root = dataclasses.replace(
        ROOT_ENTRY, reply_count=2, last_reply_at=NOW, participant_ids=(BEN, ADMIN), state_seq=5
    )
    result = plan([change("delete", BEN, REPLY)], targets(root, REPLY_ENTRY))
    created = result.outcomes[0]
    assert isinstance(created, Created)
    # The delete names the reply's thread (a client may hold the root without the reply).
    assert created.message.thread_root_id == ROOT
    assert message_struct(created.message).thread_root_id == str(ROOT)
    top_level_delete = plan([change("delete", ANA, ROOT)]).new_messages[0]
    assert top_level_delete.thread_root_id is None
    assert message_struct(top_level_delete).thread_root_id is msgspec.UNSET
    by_id = {m.id: m for m in result.target_updates}
    assert by_id[REPLY].deleted
    assert (by_id[ROOT].reply_count, by_id[ROOT].state_seq) == (1, 6)
    assert (by_id[ROOT].last_reply_at, by_id[ROOT].participant_ids) == (NOW, (BEN, ADMIN))


def test_a_deleted_root_keeps_its_summary_and_refuses_new_replies() -> None:
    root = dataclasses.replace(ROOT_ENTRY, reply_count=1, last_reply_at=NOW, participant_ids=(BEN,))
    result = plan([change("delete", ANA, ROOT), reply(ADMIN)], targets(root))
    (deleted,) = result.target_updates
    assert deleted.deleted
    assert deleted.reply_count == 1
    assert rejected(result.outcomes[1]).code == "not_found"


def test_a_reply_to_a_root_of_the_same_batch_is_inserted_with_its_summary() -> None:
    first = text(ANA)
    plan_one = plan([first], {})
    root_id = plan_one.new_messages[0].id  # the id the same id source gives it below
    result = plan([first, reply(BEN, root_id)], {})
    root, answer = result.new_messages
    assert (root.reply_count, root.state_seq, root.participant_ids) == (1, 7, (BEN,))
    assert answer.thread_root_id == root_id
    assert result.target_updates == []


def test_a_repeated_reply_is_a_duplicate_and_a_reuse_top_level_is_refused() -> None:
    cmd = reply(BEN)
    first = plan([cmd])
    stored = first.new_messages[0]
    again = plan([cmd], existing={(BEN, cmd.client_msg_id): stored})
    assert isinstance(again.outcomes[0], Duplicate)
    top_level = dataclasses.replace(cmd, thread_root_id=None)
    reused = plan([top_level], existing={(BEN, cmd.client_msg_id): stored})
    assert rejected(reused.outcomes[0]).code == "client_msg_id_reused"


def test_wire_shape_of_replies_and_roots() -> None:
    result = plan([reply(ADMIN)])
    wire_reply = message_struct(result.new_messages[0])
    assert wire_reply.thread_root_id == str(ROOT)
    assert wire_reply.thread is msgspec.UNSET
    root = message_struct(result.target_updates[0])
    assert isinstance(root.thread, types.ThreadSummary)
    assert (root.thread.reply_count, root.thread.participant_ids) == (1, [str(ADMIN)])
    assert root.thread.last_reply_at == "2026-12-06T19:00:00.000Z"
    assert root.state_seq == 6
    plain = message_struct(ROOT_ENTRY)  # a v1 text entry: none of the additions
    assert plain.thread is msgspec.UNSET
    assert plain.thread_root_id is msgspec.UNSET
    assert plain.mentions is msgspec.UNSET
    # Every shape validates against the contract.
    for message in (wire_reply, root, plain):
        msgspec.json.decode(msgspec.json.encode(message), type=types.Message)


# --- deactivated direct partners -----------------------------------------------------------


@pytest.mark.parametrize(
    "cmd",
    [
        text(ANA, room_id=DM),
        SendCommand(uuid.uuid4(), DM, ANA, "", kind="reaction", target_id=ROOT, emoji="👍"),
    ],
)
def test_a_direct_entry_to_a_deactivated_user_is_refused(cmd: SendCommand) -> None:
    result = plan([cmd], {}, room_states=rooms(deactivated=frozenset({BEN})))
    assert rejected(result.outcomes[0]).code == "deactivated"
    assert result.new_messages == []


def test_deactivated_comes_after_membership_and_never_blocks_channels() -> None:
    states = rooms(deactivated=frozenset({BEN}))
    assert rejected(plan([text(EVE, room_id=DM)], {}, room_states=states).outcomes[0]).code == (
        "not_a_member"
    )
    assert isinstance(plan([text(ANA)], {}, room_states=states).outcomes[0], Created)
    assert isinstance(plan([text(ANA, room_id=DM)], {}).outcomes[0], Created)


# --- mentions ------------------------------------------------------------------------------


def test_a_text_carries_its_mentions_and_lists_rows_without_the_sender() -> None:
    cmd = text(ANA, "@ben @ana @room", mentions=Mentions((BEN, ANA), True), mentions_on=True)
    result = plan([cmd], {})
    created = result.new_messages[0]
    assert created.mentions == Mentions((BEN, ANA), True)
    assert result.mention_rows == [(created.id, BEN, ROOM, 6, None)]
    assert result.mentions_replaced == []


def test_a_text_without_mentions_stores_none() -> None:
    result = plan([text(ANA, "@nobody", mentions=Mentions(), mentions_on=True)], {})
    assert result.new_messages[0].mentions is None
    assert result.mention_rows == []
    assert not result.writes_threads_or_mentions


def test_a_reply_mention_row_names_its_thread() -> None:
    result = plan([reply(BEN, text="@ana", mentions=Mentions((ANA,), False))])
    created = result.new_messages[0]
    assert result.mention_rows == [(created.id, ANA, ROOM, 6, ROOT)]


def test_an_edit_carries_the_recomputed_mentions_and_replaces_the_targets() -> None:
    root = dataclasses.replace(ROOT_ENTRY, mentions=Mentions((BEN,), False))
    cmd = change("edit", ANA, ROOT, "@admin now", mentions=Mentions((ADMIN,), False))
    result = plan([cmd], targets(root))
    edit_entry = result.new_messages[0]
    assert edit_entry.mentions == Mentions((ADMIN,), False)
    (updated,) = result.target_updates
    assert updated.mentions == Mentions((ADMIN,), False)
    assert result.mentions_replaced == [ROOT]
    assert result.mention_rows == [(ROOT, ADMIN, ROOM, 3, None)]
    assert message_struct(edit_entry).mentions == types.Mentions(user_ids=[str(ADMIN)], room=False)


def test_an_edit_to_no_mentions_empties_the_target_and_says_so() -> None:
    root = dataclasses.replace(ROOT_ENTRY, mentions=Mentions((BEN,), True))
    result = plan([change("edit", ANA, ROOT, "nobody", mentions=Mentions())], targets(root))
    (updated,) = result.target_updates
    assert updated.mentions is None
    assert result.mentions_replaced == [ROOT]
    assert result.mention_rows == []
    wire = message_struct(result.new_messages[0]).mentions
    assert isinstance(wire, types.Mentions)
    assert (wire.user_ids, wire.room) == ([], False)


def test_an_edit_without_parsed_mentions_leaves_the_targets() -> None:
    """Feature `mentions` off: nothing is parsed, nothing replaced."""
    root = dataclasses.replace(ROOT_ENTRY, mentions=Mentions((BEN,), False))
    result = plan([change("edit", ANA, ROOT, "@admin now")], targets(root))
    assert result.target_updates[0].mentions == Mentions((BEN,), False)
    assert result.mentions_replaced == []
    assert result.new_messages[0].mentions is None


def test_a_delete_empties_the_targets_mentions_and_its_edits() -> None:
    root = dataclasses.replace(ROOT_ENTRY, mentions=Mentions((BEN,), True))
    edit_cmd = change("edit", ANA, ROOT, "@admin", mentions=Mentions((ADMIN,), False))
    result = plan([edit_cmd, change("delete", ANA, ROOT)], targets(root))
    (updated,) = result.target_updates
    assert updated.deleted
    assert updated.mentions is None
    assert result.mentions_replaced == [ROOT]
    assert result.mention_rows == []
    assert result.new_messages[0].mentions is None
    assert result.new_messages[0].text == ""


def test_plain_batches_list_nothing_new() -> None:
    result = plan([text(ANA), text(BEN)], {})
    assert result.mention_rows == []
    assert result.thread_reads == {}
    assert not result.writes_threads_or_mentions
    assert not result.changes_targets


# --- property: a root's summary is what its replies say ------------------------------------

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("reply"), st.sampled_from([ADMIN, ANA, BEN])),
        st.tuples(st.just("delete"), st.integers(min_value=0, max_value=20)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=100, deadline=None)
@given(ops=_OPS, batch_size=st.integers(min_value=1, max_value=5))
def test_a_roots_summary_matches_its_replies_whatever_the_batches(
    ops: list[tuple[str, Any]], batch_size: int
) -> None:
    """Replies and deletes of replies in any batches: the root counts the live replies, lists
    each replier once in order of their first reply, and its state_seq is the last entry that
    changed it (what a client applying entries by `entry.seq > state_seq` reaches)."""
    stored: dict[UUID, Message] = {ROOT: ROOT_ENTRY}
    last_seq = 5
    repliers: list[UUID] = []
    touched_at = ROOT_ENTRY.seq
    replies: list[UUID] = []
    next_id = itertools.count(1)
    for start in range(0, len(ops), batch_size):
        commands = []
        for kind, arg in ops[start : start + batch_size]:
            if kind == "reply":
                commands.append(reply(arg))
            elif replies:
                victim = stored[replies[arg % len(replies)]]
                commands.append(change("delete", victim.sender_id, victim.id))
        result = plan_batch(
            commands,
            {ROOM: dataclasses.replace(rooms()[ROOM], last_seq=last_seq)},
            {},
            now=NOW,
            new_id=lambda: UUID(int=50_000 + next(next_id)),
            targets=targets(*stored.values()),
        )
        for cmd, outcome in zip(commands, result.outcomes, strict=True):
            if not isinstance(outcome, Created):
                assert cmd.kind == "delete"  # only a reply deleted before may be refused
                continue
            if cmd.kind == "text":
                replies.append(outcome.message.id)
                if cmd.sender_id not in repliers:
                    repliers.append(cmd.sender_id)
            touched_at = outcome.message.seq
        for message in [*result.new_messages, *result.target_updates]:
            stored[message.id] = message
        last_seq = result.last_seqs.get(ROOM, last_seq)
    root = stored[ROOT]
    live = [r for r in replies if not stored[r].deleted]
    assert root.reply_count == len(live)
    assert root.participant_ids == tuple(repliers)
    assert root.current_seq == touched_at
