"""api-v1.1 A entries in the batch planner: edit, delete, reaction and system entries, their
refusals in the order DESIGN fixes, no-op reactions, the content hash, several entries on one
target in one batch, state_seq (pure domain, no I/O)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from chat_runtime.features import Refusal
from hypothesis import given, settings
from hypothesis import strategies as st
from message_service.domain.entries import aggregate_reactions, content_hash
from message_service.domain.model import Message, Reaction, ReactionMark
from message_service.domain.sending import (
    BatchPlan,
    Created,
    Duplicate,
    Noop,
    NoopSend,
    Outcome,
    Rejected,
    RoomState,
    SendCommand,
    Stored,
    Target,
    plan_batch,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 16, 0, 0, tzinfo=UTC)
ROOM, OTHER_ROOM = UUID(int=1), UUID(int=2)
ADMIN, ANA, BEN, EVE = (UUID(int=100 + i) for i in range(4))  # EVE is not a member
TARGET = UUID(int=500)  # ANA's text entry, seq 3, in ROOM


def ids() -> Callable[[], UUID]:
    counter = itertools.count(1)
    return lambda: UUID(int=10_000 + next(counter))


def room(last_seq: int = 5, kind: str = "channel") -> RoomState:
    return RoomState(
        last_seq=last_seq,
        members=frozenset({ADMIN, ANA, BEN}),
        kind=kind,  # type: ignore[arg-type]
        admins=frozenset({ADMIN}),
    )


def text_entry(
    message_id: UUID = TARGET,
    sender: UUID = ANA,
    seq: int = 3,
    text: str = "Deploy at 4",
    room_id: UUID = ROOM,
    kind: str = "text",
    **state: Any,
) -> Message:
    return Message(
        message_id,
        room_id,
        seq,
        kind,  # type: ignore[arg-type]
        sender,
        text,
        uuid.uuid4(),
        NOW - timedelta(minutes=5),
        **state,
    )


def target(message: Message | None = None, *marks: ReactionMark) -> dict[UUID, Target]:
    message = message or text_entry()
    return {message.id: Target(message, tuple(marks))}


def edit(sender: UUID = ANA, text: str = "Deploy at 5", **kw: Any) -> SendCommand:
    return command("edit", sender, text=text, **kw)


def delete(sender: UUID = ANA, **kw: Any) -> SendCommand:
    return command("delete", sender, **kw)


def react(
    sender: UUID = BEN, emoji: str = "👍", added: bool | None = None, **kw: Any
) -> SendCommand:
    return command("reaction", sender, emoji=emoji, added=added, **kw)


def command(
    kind: str,
    sender: UUID,
    *,
    text: str = "",
    target_id: UUID | None = TARGET,
    client: UUID | None = None,
    room_id: UUID = ROOM,
    **kw: Any,
) -> SendCommand:
    return SendCommand(
        client_msg_id=client or uuid.uuid4(),
        room_id=room_id,
        sender_id=sender,
        text=text,
        kind=kind,
        target_id=target_id,
        **kw,
    )


def send_text(sender: UUID = ANA, text: str = "hi", client: UUID | None = None) -> SendCommand:
    return SendCommand(
        client_msg_id=client or uuid.uuid4(), room_id=ROOM, sender_id=sender, text=text
    )


def plan(
    commands: Sequence[SendCommand],
    targets: Mapping[UUID, Target] | None = None,
    existing: Mapping[tuple[UUID, UUID], Stored] | None = None,
    rooms: Mapping[UUID, RoomState] | None = None,
) -> BatchPlan:
    return plan_batch(
        commands,
        rooms if rooms is not None else {ROOM: room()},
        existing or {},
        now=NOW,
        new_id=ids(),
        targets=target() if targets is None else targets,
    )


def code(outcome: Outcome) -> str:
    return outcome.code if isinstance(outcome, Rejected) else type(outcome).__name__


def only(p: BatchPlan) -> Outcome:
    (outcome,) = p.outcomes
    return outcome


# --- effects ------------------------------------------------------------------------------------


def test_an_edit_is_an_entry_that_changes_its_target() -> None:
    p = plan([edit()])
    created = only(p)
    assert isinstance(created, Created)
    entry = created.message
    assert (entry.kind, entry.seq, entry.target_id, entry.text) == (
        "edit",
        6,
        TARGET,
        "Deploy at 5",
    )
    (updated,) = p.target_updates
    assert (updated.text, updated.edited_at, updated.state_seq) == ("Deploy at 5", NOW, 6)
    assert p.last_seqs == {ROOM: 6}
    # Only text entries move the room's activity and their sender's read position (api-v1.1 B).
    assert p.active_rooms == set()
    assert p.read_positions == {}


def test_a_delete_erases_the_target_and_its_reactions() -> None:
    marks = (ReactionMark("👍", BEN, 4, 4),)
    p = plan([delete()], targets=target(text_entry(), *marks))
    assert isinstance(only(p), Created)
    (updated,) = p.target_updates
    assert (updated.text, updated.deleted, updated.state_seq) == ("", True, 6)
    assert p.erased == [TARGET]
    assert p.reaction_puts == []
    assert p.reaction_removes == []


def test_a_reaction_adds_a_row_and_moves_state_seq_only() -> None:
    p = plan([react()])
    entry = only(p)
    assert isinstance(entry, Created)
    assert (entry.message.kind, entry.message.emoji, entry.message.added) == (
        "reaction",
        "👍",
        True,
    )
    assert entry.message.text == ""
    assert p.reaction_puts == [(TARGET, ReactionMark("👍", BEN, 6, 6))]
    (updated,) = p.target_updates
    assert (updated.text, updated.state_seq, updated.edited_at) == ("Deploy at 4", 6, None)


def test_removing_a_reaction_removes_its_row() -> None:
    p = plan([react(added=False)], targets=target(text_entry(), ReactionMark("👍", BEN, 4, 4)))
    assert isinstance(only(p), Created)
    assert p.reaction_removes == [(TARGET, "👍", BEN)]
    assert p.reaction_puts == []


def test_several_entries_on_one_target_in_one_batch_see_each_other() -> None:
    """Each is decided against the state the earlier ones left; the target's final state (and
    every message the batch answers with) is the last one."""
    commands = [
        react(BEN, "👍"),
        react(ADMIN, "👍"),
        edit(text="v2"),
        react(BEN, "👍", added=False),
        edit(text="v3"),
        react(BEN, "👍"),  # re-added: a new row seq
        react(BEN, "👍"),  # now a no-op
    ]
    p = plan(commands)
    assert [code(o) for o in p.outcomes] == ["Created"] * 6 + ["Noop"]
    assert [m.seq for m in p.new_messages] == [6, 7, 8, 9, 10, 11]
    (updated,) = p.target_updates
    assert (updated.text, updated.state_seq) == ("v3", 11)
    assert set(p.reaction_puts) == {
        (TARGET, ReactionMark("👍", ADMIN, 7, 6)),
        (TARGET, ReactionMark("👍", BEN, 11, 6)),
    }
    noop = p.outcomes[-1]
    assert isinstance(noop, Noop)
    assert noop.message.state_seq == 11
    assert noop.message.reactions == (Reaction("👍", 2, (ADMIN, BEN)),)


def test_emoji_keep_their_place_while_anyone_has_them() -> None:
    """The order every client reaches (ADR 0009): an emoji stays where it appeared while its
    count is above zero, even when its first reactor takes theirs back; one that went to zero
    and comes back goes last. (A repeated add at the end is a no-op: it answers the target.)"""
    p = plan([react(ANA, "👍"), react(BEN, "🎉"), react(ADMIN, "👍"), react(ANA, "👍", False)])
    assert [code(o) for o in p.outcomes] == ["Created"] * 4
    assert set(p.reaction_puts) == {
        (TARGET, ReactionMark("👍", ADMIN, 8, 6)),
        (TARGET, ReactionMark("🎉", BEN, 7, 7)),
    }
    stored = target(text_entry(), ReactionMark("👍", ADMIN, 8, 6), ReactionMark("🎉", BEN, 7, 7))
    p = plan([react(ADMIN, "👍")], targets=stored)
    (noop,) = p.outcomes
    assert isinstance(noop, Noop)
    assert [r.emoji for r in noop.message.reactions] == ["👍", "🎉"]
    p = plan([react(BEN, "👍", False), react(BEN, "🎉", False), react(ANA, "🎉")], targets=stored)
    assert code(p.outcomes[0]) == "Noop"
    assert (TARGET, ReactionMark("🎉", ANA, 7, 7)) in p.reaction_puts
    p = plan(
        [react(ADMIN, "👍", False), react(ANA, "🎉"), react(ANA, "👍"), react(ANA, "👍")],
        targets=stored,
    )
    last = p.outcomes[-1]
    assert isinstance(last, Noop)
    assert [r.emoji for r in last.message.reactions] == ["🎉", "👍"]


def test_a_batch_that_edits_then_deletes_leaves_no_text_anywhere() -> None:
    p = plan([edit(text="secret v2"), delete()])
    assert [code(o) for o in p.outcomes] == ["Created", "Created"]
    assert all("secret" not in m.text for m in p.new_messages)
    first = p.outcomes[0]
    assert isinstance(first, Created)
    assert first.message.text == ""
    assert p.target_updates[0].text == ""


def test_entries_on_a_text_entry_of_the_same_batch() -> None:
    sent = send_text(text="typo")
    created = only(plan([sent], targets={}))
    assert isinstance(created, Created)
    new_target = created.message.id  # the id the same batch gives it below
    commands = [
        sent,
        command("edit", ANA, text="fixed", target_id=UUID(int=10_001)),
        command("reaction", BEN, emoji="🎉", target_id=UUID(int=10_001)),
    ]
    p = plan(commands, targets={})
    assert [code(o) for o in p.outcomes] == ["Created"] * 3
    assert new_target == UUID(int=10_001)
    text = p.new_messages[0]
    assert (text.text, text.edited_at, text.state_seq) == ("fixed", NOW, 8)
    assert text.reactions == (Reaction("🎉", 1, (BEN,)),)
    assert p.target_updates == []  # inserted in its final state
    assert p.reaction_puts == [(text.id, ReactionMark("🎉", BEN, 8, 8))]
    first = p.outcomes[0]
    assert isinstance(first, Created)
    assert first.message == text


# --- refusals, in DESIGN's order ----------------------------------------------------------------


def test_a_feature_refusal_comes_first() -> None:
    off = Refusal("feature_disabled", "off")
    p = plan([command("edit", EVE, target_id=None, refusal=off)])
    assert code(only(p)) == "feature_disabled"


def test_a_non_member_is_refused_before_the_target_is_looked_at() -> None:
    assert code(only(plan([edit(EVE)], targets={}))) == "not_a_member"


@pytest.mark.parametrize(
    ("targets", "cmd"),
    [
        ({}, edit()),  # absent
        (target(text_entry(room_id=OTHER_ROOM)), edit()),  # in another room
        (target(text_entry(kind="edit", target_id=UUID(int=9))), edit()),  # not a text entry
        (target(text_entry(kind="system")), delete()),  # edit/delete of a system entry
        (target(text_entry(text="", deleted=True, state_seq=4)), react()),  # deleted
        (target(text_entry(text="", deleted=True, state_seq=4)), edit()),
        (target(text_entry(text="", deleted=True, state_seq=4)), delete()),
    ],
)
def test_a_target_absent_from_the_room_not_text_or_deleted_is_not_found(
    targets: dict[UUID, Target], cmd: SendCommand
) -> None:
    p = plan([cmd], targets=targets)
    assert code(only(p)) == "not_found"
    assert p.new_messages == []
    assert p.last_seqs == {}


def test_a_reaction_on_a_system_entry_is_forbidden() -> None:
    p = plan([react()], targets=target(text_entry(kind="system", event="member_joined")))
    assert code(only(p)) == "forbidden"


def test_editing_another_members_entry_is_forbidden_even_for_the_admin() -> None:
    assert code(only(plan([edit(BEN)]))) == "forbidden"
    assert code(only(plan([edit(ADMIN)]))) == "forbidden"


def test_deleting_another_members_entry_only_by_the_channels_creator() -> None:
    assert code(only(plan([delete(BEN)]))) == "forbidden"
    assert code(only(plan([delete(ADMIN)]))) == "Created"
    # A direct room has no admin.
    direct = {ROOM: room(kind="direct")}
    assert code(only(plan([delete(ADMIN)], rooms=direct))) == "forbidden"


@pytest.mark.parametrize("emoji", ["x", "👍👍", ":+1:", "☺", "", "🏽"])
def test_a_reaction_that_is_not_one_rgi_emoji_is_bad_request(emoji: str) -> None:
    outcome = only(plan([react(emoji=emoji)]))
    assert isinstance(outcome, Rejected)
    assert (outcome.code, outcome.field) == ("bad_request", "emoji")


def test_skin_tones_and_zwj_sequences_are_accepted() -> None:
    p = plan([react(emoji="👍🏽"), react(ADMIN, emoji="👩🏽‍💻")])
    assert [code(o) for o in p.outcomes] == ["Created", "Created"]


def test_the_21st_distinct_emoji_is_refused_but_more_of_the_20_are_not() -> None:
    twenty = ["😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "🙃"]
    twenty += ["😉", "😊", "😇", "🥰", "😍", "🤩", "😘", "😗", "😚", "😙"]
    marks = [ReactionMark(e, ANA, 1 + i, 1 + i) for i, e in enumerate(twenty)]
    targets = target(text_entry(), *marks)
    p = plan([react(BEN, "👍"), react(BEN, "😀"), react(ANA, "😀", added=False)], targets=targets)
    first, second, third = p.outcomes
    assert isinstance(first, Rejected)
    assert (first.code, first.field) == ("bad_request", "emoji")
    assert code(second) == "Created"
    assert code(third) == "Created"
    # With one of the 20 gone, a new emoji fits again.
    p = plan([react(ANA, "😀", added=False), react(BEN, "👍")], targets=targets)
    assert [code(o) for o in p.outcomes] == ["Created", "Created"]


@pytest.mark.parametrize(
    ("text", "rule"), [("", "bad_request"), ("  ", "bad_request"), ("x" * 4001, "message_too_long")]
)
def test_an_edits_text_follows_the_text_rules(text: str, rule: str) -> None:
    outcome = only(plan([edit(text=text)]))
    assert isinstance(outcome, Rejected)
    assert (outcome.code, outcome.field) == (rule, "text")


@pytest.mark.parametrize(
    ("cmd", "field_name"),
    [
        (command("edit", ANA, text="x", target_id=None), "target_id"),
        (command("delete", ANA, target_id=None), "target_id"),
        (command("reaction", BEN, emoji="👍", target_id=None), "target_id"),
        (command("text", ANA, text="hi", target_id=TARGET), "target_id"),
        (command("edit", ANA, text="x", emoji="👍"), "emoji"),
        (command("delete", ANA, added=True), "added"),
    ],
)
def test_fields_that_do_not_belong_to_the_kind_are_bad_request(
    cmd: SendCommand, field_name: str
) -> None:
    outcome = only(plan([cmd]))
    assert isinstance(outcome, Rejected)
    assert (outcome.code, outcome.field) == ("bad_request", field_name)


def test_a_client_cannot_make_a_system_entry() -> None:
    """Only the service sets `event`; a command of kind system without it is unsupported."""
    assert code(only(plan([command("system", ANA, text="x", target_id=None)]))) == "unsupported"


def test_a_service_made_system_entry_needs_no_membership() -> None:
    cmd = command("system", EVE, text="Eve left the channel", target_id=None, event="member_left")
    p = plan([cmd], targets={})
    created = only(p)
    assert isinstance(created, Created)
    m = created.message
    assert (m.kind, m.event, m.actor_id, m.subject_id, m.seq) == (
        "system",
        "member_left",
        EVE,
        None,
        6,
    )
    assert p.active_rooms == set()
    assert p.read_positions == {}


# --- no-ops and idempotency ---------------------------------------------------------------------


def test_adding_a_reaction_one_has_or_removing_one_one_lacks_is_a_noop() -> None:
    targets = target(text_entry(state_seq=4), ReactionMark("👍", BEN, 4, 4))
    add_again, remove_missing = react(BEN, "👍"), react(BEN, "🎉", added=False)
    p = plan([add_again, remove_missing], targets=targets)
    assert [code(o) for o in p.outcomes] == ["Noop", "Noop"]
    assert p.new_messages == []
    assert p.last_seqs == {}
    assert p.target_updates == []
    assert [(n.sender_id, n.client_msg_id, n.target_id) for n in p.noops] == [
        (BEN, add_again.client_msg_id, TARGET),
        (BEN, remove_missing.client_msg_id, TARGET),
    ]
    noop = p.outcomes[0]
    assert isinstance(noop, Noop)
    assert noop.message.id == TARGET
    assert noop.message.reactions == (Reaction("👍", 1, (BEN,)),)


def test_a_repeat_of_a_noop_gets_the_current_target() -> None:
    cmd = react(BEN, "👍")
    receipt = NoopSend(BEN, cmd.client_msg_id, ROOM, TARGET, cmd.content_hash(), NOW)
    existing: dict[tuple[UUID, UUID], Stored] = {(BEN, cmd.client_msg_id): receipt}
    # Meanwhile someone else edited the target.
    targets = target(text_entry(text="v2", state_seq=9), ReactionMark("👍", BEN, 4, 4))
    outcome = only(plan([cmd], targets=targets, existing=existing))
    assert isinstance(outcome, Duplicate)
    assert outcome.noop
    assert not outcome.reemit_created
    assert (outcome.message.id, outcome.message.text, outcome.message.state_seq) == (
        TARGET,
        "v2",
        9,
    )


def test_a_repeat_of_a_noop_inside_one_batch() -> None:
    cmd = react(BEN, "👍", added=False)
    p = plan([cmd, cmd])
    assert [code(o) for o in p.outcomes] == ["Noop", "Duplicate"]
    assert len(p.noops) == 1


def test_the_same_client_msg_id_with_other_content_is_reused() -> None:
    client = uuid.uuid4()
    first = react(BEN, "👍", client=client)
    p = plan([first, react(BEN, "🎉", client=client), react(BEN, "👍", added=False, client=client)])
    assert [code(o) for o in p.outcomes] == [
        "Created",
        "client_msg_id_reused",
        "client_msg_id_reused",
    ]
    # Another kind or another target with the same id: reused too.
    p = plan([first, command("delete", BEN, client=client)])
    assert code(p.outcomes[1]) == "client_msg_id_reused"


def test_the_hash_still_tells_a_repeat_from_a_reuse_after_a_delete_erased_the_text() -> None:
    original = edit(text="the secret")
    stored_edit = Message(
        UUID(int=600), ROOM, 4, "edit", ANA, "", original.client_msg_id, NOW,
        target_id=TARGET, content_hash=original.content_hash(),
    )  # fmt: skip
    existing: dict[tuple[UUID, UUID], Stored] = {(ANA, original.client_msg_id): stored_edit}
    deleted = target(text_entry(text="", deleted=True, state_seq=5))
    repeat = only(plan([original], targets=deleted, existing=existing))
    assert isinstance(repeat, Duplicate)
    assert repeat.message.text == ""
    other = edit(text="something else", client=original.client_msg_id)
    assert code(only(plan([other], targets=deleted, existing=existing))) == "client_msg_id_reused"


def test_a_text_entry_from_before_the_migration_compares_by_its_text() -> None:
    client = uuid.uuid4()
    legacy = text_entry(UUID(int=700), ANA, 2, "old words")
    legacy = Message(legacy.id, ROOM, 2, "text", ANA, "old words", client, NOW)
    existing: dict[tuple[UUID, UUID], Stored] = {(ANA, client): legacy}
    assert code(only(plan([send_text(ANA, "old words", client)], existing=existing))) == "Duplicate"
    assert code(only(plan([send_text(ANA, "new words", client)], existing=existing))) == (
        "client_msg_id_reused"
    )
    # Its first change keeps the hash of its text, so a late repeat stays a duplicate.
    p = plan([command("delete", ANA, target_id=legacy.id)], targets=target(legacy))
    (updated,) = p.target_updates
    assert updated.content_hash == content_hash(ROOM, "text", None, "old words")


def test_a_repeat_of_a_changed_text_entry_answers_with_its_state() -> None:
    client = uuid.uuid4()
    sent = send_text(ANA, "Deploy at 4", client)
    stored_text = Message(
        TARGET, ROOM, 3, "text", ANA, "Deploy at 5", client, NOW,
        edited_at=NOW, state_seq=8, content_hash=sent.content_hash(),
    )  # fmt: skip
    existing: dict[tuple[UUID, UUID], Stored] = {(ANA, client): stored_text}
    outcome = only(
        plan([sent], targets=target(stored_text, ReactionMark("👍", BEN, 8, 8)), existing=existing)
    )
    assert isinstance(outcome, Duplicate)
    assert outcome.reemit_created
    assert outcome.message.reactions == (Reaction("👍", 1, (BEN,)),)
    assert outcome.message.text == "Deploy at 5"


def test_a_noop_repeat_of_an_entry_is_checked_before_the_target_rules() -> None:
    """A retry of a committed delete is acknowledged though the target is deleted now."""
    cmd = delete()
    stored_delete = Message(
        UUID(int=601), ROOM, 6, "delete", ANA, "", cmd.client_msg_id, NOW,
        target_id=TARGET, content_hash=cmd.content_hash(),
    )  # fmt: skip
    existing: dict[tuple[UUID, UUID], Stored] = {(ANA, cmd.client_msg_id): stored_delete}
    deleted = target(text_entry(text="", deleted=True, state_seq=6))
    assert code(only(plan([cmd], targets=deleted, existing=existing))) == "Duplicate"


def test_aggregated_reactions_order_emoji_by_appearance_and_keep_50_users() -> None:
    users = [UUID(int=2000 + i) for i in range(60)]
    marks = [ReactionMark("🎉", u, 100 + i, 100) for i, u in enumerate(users)]
    marks += [ReactionMark("👍", ANA, 50, 50), ReactionMark("👍", BEN, 200, 50)]
    reactions = aggregate_reactions(reversed(marks))
    assert [r.emoji for r in reactions] == ["👍", "🎉"]
    assert reactions[0] == Reaction("👍", 2, (ANA, BEN))
    assert reactions[1].count == 60
    assert reactions[1].user_ids == tuple(users[:50])


# --- properties ---------------------------------------------------------------------------------

USERS = [ADMIN, ANA, BEN]
TEXT_IDS = [UUID(int=10_001 + i) for i in range(4)]  # ids the batch's first entries will get
CLIENTS = [UUID(int=3000 + i) for i in range(8)]


@st.composite
def mixed_command(draw: st.DrawFn) -> SendCommand:
    kind = draw(st.sampled_from(["text", "text", "edit", "delete", "reaction"]))
    sender = draw(st.sampled_from(USERS))
    client = draw(st.sampled_from(CLIENTS))
    if kind == "text":
        return SendCommand(client, ROOM, sender, draw(st.sampled_from(["a", "b", " "])))
    target_id = draw(st.sampled_from([TARGET, *TEXT_IDS]))
    if kind == "reaction":
        return command(
            kind,
            sender,
            client=client,
            target_id=target_id,
            emoji=draw(st.sampled_from(["👍", "🎉", "x"])),
            added=draw(st.sampled_from([None, True, False])),
        )
    return command(kind, sender, client=client, target_id=target_id, text="edited")


@settings(max_examples=300, deadline=None)
@given(commands=st.lists(mixed_command(), max_size=30))
def test_mixed_batches_keep_seq_gapless_and_dedup_holds(commands: list[SendCommand]) -> None:
    rooms = {ROOM: room(5)}
    first = plan_batch(commands, rooms, {}, now=NOW, new_id=ids(), targets=target())
    seqs = [m.seq for m in first.new_messages]
    assert seqs == list(range(6, 6 + len(seqs)))
    assert first.last_seqs.get(ROOM, 5) == 5 + len(seqs)
    created = [o.message.id for o in first.outcomes if isinstance(o, Created)]
    assert created == [m.id for m in first.new_messages]
    keys = [(m.sender_id, m.client_msg_id) for m in first.new_messages]
    keys += [(n.sender_id, n.client_msg_id) for n in first.noops]
    assert len(keys) == len(set(keys))  # a client_msg_id is used once per sender
    # Replaying the whole batch on top of its own result creates nothing and answers the same.
    existing: dict[tuple[UUID, UUID], Stored] = {
        (m.sender_id, m.client_msg_id): m for m in first.new_messages
    }
    existing.update({(n.sender_id, n.client_msg_id): n for n in first.noops})
    after = {ROOM: room(first.last_seqs.get(ROOM, 5))}
    stored: dict[UUID, Target] = {}
    final_target = next((u for u in first.target_updates if u.id == TARGET), text_entry())
    stored[TARGET] = Target(final_target)
    for m in first.new_messages:
        stored[m.id] = Target(m)
    replay = plan_batch(commands, after, existing, now=NOW, new_id=ids(), targets=stored)
    # Only a command refused the first time may be decided otherwise now (its target exists).
    retried = {
        (c.sender_id, c.client_msg_id)
        for c, o in zip(commands, first.outcomes, strict=True)
        if isinstance(o, Rejected)
    }
    assert {(m.sender_id, m.client_msg_id) for m in replay.new_messages} <= retried
    assert {(n.sender_id, n.client_msg_id) for n in replay.noops} <= retried
    for before, again in zip(first.outcomes, replay.outcomes, strict=True):
        if isinstance(before, Created):
            assert isinstance(again, Duplicate)
            assert not again.noop
            assert again.message.id == before.message.id
        elif isinstance(before, Noop):
            assert isinstance(again, Duplicate)
            assert again.noop
            assert again.message.id == before.message.id
        elif isinstance(before, Duplicate):
            assert isinstance(again, Duplicate)
    # The target's state_seq is the seq of the last entry that changed it.
    changes = [m.seq for m in first.new_messages if m.target_id == TARGET]
    if changes:
        assert final_target.state_seq == changes[-1]
