"""Mention parsing and resolution (api-v1.1 A, domain/mentions.py): `@username` and `@room`
outside Markdown code, trailing punctuation, case, addresses, the `@room` rule of large rooms.
Pure: no I/O."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from message_service.domain.mentions import (
    ROOM_MENTION_MEMBERS,
    ParsedMentions,
    may_mention_room,
    mentioned_users,
    parse_mentions,
    resolve_mentions,
)
from message_service.domain.model import Mentions

pytestmark = pytest.mark.unit

ANA, BOB, BOB_DOT, EVE = (UUID(int=100 + i) for i in range(4))
MEMBERS = {"ana": ANA, "bob": BOB, "eve": EVE}


def names(text: str) -> list[str]:
    """The first candidate of each token (the name as written, lower-cased)."""
    return [candidates[0] for candidates in parse_mentions(text).names]


def mentions(text: str, members: dict[str, UUID] | None = None, *, room: bool = True) -> Mentions:
    return resolve_mentions(parse_mentions(text), members or MEMBERS, room_allowed=room)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@ana hi", [ANA]),
        ("hi @ana", [ANA]),
        ("@Ana and @BOB", [ANA, BOB]),  # case-insensitive
        ("@bob.", [BOB]),  # trailing punctuation stripped
        ("@bob, @ana!", [BOB, ANA]),
        ("@bob... really?", [BOB]),
        ("(@bob)", [BOB]),
        ("@bob: see this", [BOB]),
        ("ping @bob-", [BOB]),
        ("**@bob** and _@ana_", [BOB, ANA]),  # emphasis is not code
        ("[@bob](https://example.com)", [BOB]),  # link text is shown
        ("> @bob quoted", [BOB]),
        ("- @bob in a list", [BOB]),
        ("<b>@bob</b>", [BOB]),  # raw HTML is shown as text, so is the name in it
        ("@ana @ana @ana", [ANA]),  # once each
        ("line one\n@eve line two", [EVE]),
    ],
)
def test_names_of_members_are_mentions(text: str, expected: list[UUID]) -> None:
    assert mentions(text).user_ids == tuple(expected)


@pytest.mark.parametrize(
    "text",
    [
        "`@bob`",  # inline code span
        "run `ls @bob` now",
        "``@bob ` x``",
        "```\n@bob\n```",  # fenced code block
        "~~~python\nx = '@bob'\n~~~",
        "    @bob is indented code",  # indented code block
        "text\n\n    @bob\n",
        "write to bob@example.com",  # an e-mail address
        "a@b.com",
        "@bob@example.com",  # an address, not a mention followed by text
        "see https://social.example/@bob",  # a URL path
        "<https://social.example/@bob>",
        "@bo",  # shorter than any username
        "@" + "b" * 33,  # longer than any username
        "@ nobody",
        "@carl is not in the room",
        "no at sign at all",
    ],
)
def test_no_mention(text: str) -> None:
    assert mentions(text).user_ids == ()


def test_a_name_ending_in_punctuation_is_matched_whole_when_such_a_member_exists() -> None:
    members = {**MEMBERS, "bob.": BOB_DOT}
    assert mentions("@bob.", members).user_ids == (BOB_DOT,)
    assert mentions("@bob..", members).user_ids == (BOB_DOT,)
    assert mentions("@bob", members).user_ids == (BOB,)


def test_the_names_asked_about_include_every_stripped_form() -> None:
    parsed = parse_mentions("@Bob.- and @ana")
    assert parsed.usernames == {"bob.-", "bob.", "bob", "ana"}
    assert names("@Bob.- and @ana") == ["bob.-", "ana"]


@pytest.mark.parametrize("text", ["@room", "hey @room!", "@ROOM.", "**@room**"])
def test_at_room(text: str) -> None:
    parsed = parse_mentions(text)
    assert parsed.room
    assert parsed.names == ()
    assert mentions(text) == Mentions((), True)
    assert mentions(text, room=False) == Mentions((), False)


@pytest.mark.parametrize("text", ["`@room`", "```\n@room\n```", "x@room", "@roomba"])
def test_not_at_room(text: str) -> None:
    assert not parse_mentions(text).room


def test_a_text_without_at_is_not_parsed() -> None:
    assert parse_mentions("plain text, *Markdown* and `code`") == ParsedMentions()
    assert not parse_mentions("plain")


@pytest.mark.parametrize(
    ("members", "room_admin", "allowed"),
    [
        (ROOM_MENTION_MEMBERS, False, True),
        (ROOM_MENTION_MEMBERS + 10, False, False),  # a member of a 60-member room
        (ROOM_MENTION_MEMBERS + 10, True, True),  # a room admin of a 60-member room
        (2, False, True),
    ],
)
def test_at_room_in_large_rooms_only_by_room_admins(
    members: int, room_admin: bool, allowed: bool
) -> None:
    assert may_mention_room(members, room_admin=room_admin) is allowed
    resolved = resolve_mentions(
        parse_mentions("@room @ana"),
        MEMBERS,
        room_allowed=may_mention_room(members, room_admin=room_admin),
    )
    assert resolved == Mentions((ANA,), allowed)


def test_the_sender_is_never_notified_by_their_own_mention() -> None:
    assert mentioned_users(Mentions((ANA, BOB), False), ANA) == (BOB,)
    assert mentioned_users(None, ANA) == ()


# --- properties ----------------------------------------------------------------------------

_NAME = st.text(alphabet="abcdefghij", min_size=3, max_size=8)
_FILLER = st.sampled_from(["", " ", "\n", "x ", "**", "_", ". ", ", ", "> ", "- "])


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(st.tuples(_FILLER, _NAME), max_size=3),
    hidden=_NAME,
    fence=st.sampled_from(["`", "``", "```\n", "~~~\n"]),
)
def test_a_name_inside_code_is_never_a_mention(
    before: list[tuple[str, str]], hidden: str, fence: str
) -> None:
    """Whatever surrounds it, `@name` inside a code span or fenced block is not returned,
    unless the same name is also written outside code."""
    outside = {name for _, name in before}
    closing = fence if fence in ("`", "``") else "\n" + fence.strip()
    text = "".join(f"{filler}@{name} " for filler, name in before)
    text += f"\n\n{fence}@{hidden}{closing}\n"
    found = {candidates[0] for candidates in parse_mentions(text).names}
    assert hidden not in found or hidden in outside
    assert found <= outside


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parsing_any_text_never_fails_and_names_are_usernames(text: str) -> None:
    for candidates in parse_mentions(text).names:
        for name in candidates:
            assert 3 <= len(name) <= 32
            assert name == name.lower()
            assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_.-")
