"""api-v1.1 C room management, pure: who is a room admin, the refusals of the room endpoints,
the last-admin rule, topics, the text of the new system entries, and the planner's refusals
in archived rooms and blocked 1:1 direct rooms (no I/O)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from message_service.domain import errors
from message_service.domain.entries import system_text
from message_service.domain.model import Message, Room
from message_service.domain.room_roles import (
    Standing,
    admin_refusal,
    clean_topic,
    is_room_admin,
    leaves_no_admin,
    topic_problem,
)
from message_service.domain.sending import (
    Created,
    Outcome,
    Rejected,
    RoomState,
    SendCommand,
    Target,
    plan_batch,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
ROOM = UUID(int=1)
ADMIN, ANA, BEN = (UUID(int=100 + i) for i in range(3))
ANAS, BENS = UUID(int=500), UUID(int=501)  # ANA's and BEN's text entries


def room(kind: str = "channel", visibility: str = "public") -> Room:
    return Room(ROOM, kind, "r", visibility, ADMIN, NOW, 0, NOW)  # type: ignore[arg-type]


# --- who is a room admin ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "standing", "admin"),
    [
        ("channel", Standing("admin"), True),
        ("channel", Standing("member"), False),
        ("channel", Standing("member", "admin"), True),
        ("channel", Standing("member", "owner"), True),
        ("channel", Standing("member", "member"), False),
        ("channel", Standing(None, "owner"), False),  # a workspace admin outside the room
        ("direct", Standing("member", "owner"), False),  # direct rooms have no admins
        ("direct", Standing("admin"), False),
    ],
)
def test_room_admins_are_room_role_admins_or_workspace_admins_in_the_channel(
    kind: str, standing: Standing, admin: bool
) -> None:
    assert is_room_admin(kind, standing) is admin


@pytest.mark.parametrize(
    ("kind", "visibility", "standing", "refusal"),
    [
        ("channel", "public", Standing("admin"), None),
        ("channel", "private", Standing("member", "admin"), None),
        ("channel", "public", Standing("member"), errors.Forbidden),
        ("channel", "private", Standing("member"), errors.Forbidden),
        ("channel", "public", Standing(None, "owner"), errors.Forbidden),
        ("channel", "private", Standing(None, "owner"), errors.RoomNotFound),
        ("channel", "private", Standing(None), errors.RoomNotFound),
        ("direct", "private", Standing("member", "owner"), errors.Forbidden),
        ("direct", "private", Standing(None, "admin"), errors.RoomNotFound),
    ],
)
def test_the_refusals_of_the_room_endpoints(
    kind: str, visibility: str, standing: Standing, refusal: type[errors.DomainError] | None
) -> None:
    found = admin_refusal(room(kind, visibility), standing)
    if refusal is None:
        assert found is None
    else:
        assert type(found) is refusal


def test_the_last_room_admin_cannot_go() -> None:
    assert leaves_no_admin({ANA}, ANA, still_admin=False)
    assert not leaves_no_admin({ANA}, ANA, still_admin=True)  # a workspace admin stays one
    assert not leaves_no_admin({ANA, BEN}, ANA, still_admin=False)
    assert not leaves_no_admin({ANA}, BEN, still_admin=False)  # BEN was no admin
    assert not leaves_no_admin(set(), BEN, still_admin=False)


def test_topics_are_trimmed_empty_is_none_and_at_most_250_characters() -> None:
    assert clean_topic("  Release train  ") == "Release train"
    assert clean_topic("   ") is None
    assert clean_topic(None) is None
    assert topic_problem("x" * 250) is None
    assert topic_problem(" " + "x" * 250 + " ") is None
    assert topic_problem("x" * 251) is not None
    assert topic_problem("a\x00b") is not None


@pytest.mark.parametrize(
    ("event", "subject", "value", "text"),
    [
        ("renamed", None, "design", "Ana renamed the channel to #design"),
        ("topic_changed", None, "Ship it", "Ana set the topic: Ship it"),
        ("topic_changed", None, None, "Ana cleared the topic"),
        ("archived", None, None, "Ana archived the channel"),
        ("unarchived", None, None, "Ana unarchived the channel"),
        ("member_removed", "Bo", None, "Ana removed Bo from the channel"),
        ("role_changed", "Bo", "admin", "Ana made Bo a room admin"),
        ("role_changed", "Bo", "member", "Ana removed Bo as a room admin"),
        ("member_joined", None, None, "Ana joined the channel"),
    ],
)
def test_system_entries_have_a_plain_sentence(
    event: str, subject: str | None, value: str | None, text: str
) -> None:
    assert system_text(event, "Ana", subject, value) == text


# --- the planner ------------------------------------------------------------------------------


def ids() -> Callable[[], UUID]:
    counter = itertools.count(1)
    return lambda: UUID(int=10_000 + next(counter))


def entry(message_id: UUID, sender: UUID) -> Target:
    message = Message(
        message_id, ROOM, 3, "text", sender, "hi", uuid.uuid4(), NOW - timedelta(minutes=1)
    )
    return Target(message)


def cmd(kind: str, sender: UUID, target: UUID | None = None, **kw: Any) -> SendCommand:
    text = "" if kind in ("delete", "reaction") else "hello"
    if kind == "reaction":
        kw.setdefault("emoji", "👍")
    return SendCommand(uuid.uuid4(), ROOM, sender, text, kind=kind, target_id=target, **kw)


def decide(command: SendCommand, **state: Any) -> Outcome:
    states = {ROOM: RoomState(last_seq=5, members=frozenset({ADMIN, ANA, BEN}), **state)}
    targets = {ANAS: entry(ANAS, ANA), BENS: entry(BENS, BEN)}
    (outcome,) = plan_batch([command], states, {}, now=NOW, new_id=ids(), targets=targets).outcomes
    return outcome


def code(outcome: Outcome) -> str:
    return outcome.code if isinstance(outcome, Rejected) else type(outcome).__name__


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (cmd("text", ANA), "archived"),
        (cmd("text", ADMIN), "archived"),  # even a room admin cannot write
        (cmd("edit", ANA, ANAS), "archived"),
        (cmd("reaction", BEN, ANAS), "archived"),
        (cmd("delete", ANA, ANAS), "archived"),  # one's own entry, not a room admin
        (cmd("delete", ADMIN, ANAS), "Created"),  # a room admin's delete
        (cmd("system", ADMIN, event="unarchived"), "Created"),  # the service's entries pass
    ],
)
def test_an_archived_room_takes_only_a_room_admins_delete(
    command: SendCommand, expected: str
) -> None:
    assert code(decide(command, archived=True, admins=frozenset({ADMIN}))) == expected


def test_a_room_admin_may_delete_anothers_entry_in_a_channel_and_nobody_else() -> None:
    assert code(decide(cmd("delete", ADMIN, ANAS), admins=frozenset({ADMIN}))) == "Created"
    assert code(decide(cmd("delete", BEN, ANAS), admins=frozenset({ADMIN}))) == "forbidden"
    # The creator alone is no longer enough: the room role decides (it may have been taken).
    assert code(decide(cmd("delete", ADMIN, ANAS))) == "forbidden"
    # Direct rooms have no room admins.
    direct = decide(cmd("delete", ADMIN, ANAS), kind="direct", admins=frozenset({ADMIN}))
    assert code(direct) == "forbidden"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (cmd("text", ANA), "blocked"),
        (cmd("text", BEN), "blocked"),  # both ways
        (cmd("edit", ANA, ANAS), "blocked"),
        (cmd("reaction", ANA, BENS), "blocked"),
        (cmd("delete", ANA, BENS), "blocked"),  # another's entry
        (cmd("delete", ANA, ANAS), "Created"),  # one's own entry
    ],
)
def test_a_blocked_direct_room_takes_only_the_delete_of_ones_own_entry(
    command: SendCommand, expected: str
) -> None:
    assert code(decide(command, kind="direct", blocked=True)) == expected


def test_blocked_and_archived_come_after_membership() -> None:
    outsider = UUID(int=999)
    assert code(decide(cmd("text", outsider), archived=True)) == "not_a_member"
    assert code(decide(cmd("text", outsider), kind="direct", blocked=True)) == "not_a_member"


def test_a_plain_text_is_created_when_the_room_is_neither_archived_nor_blocked() -> None:
    assert isinstance(decide(cmd("text", ANA)), Created)
