"""Room, read-position and text rules (pure domain)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from message_service.domain.model import Room, access_of, clamp_read, direct_key
from message_service.domain.text import name_problem, text_problem

pytestmark = pytest.mark.unit


def room(visibility: str) -> Room:
    now = datetime.now(UTC)
    return Room(uuid.uuid4(), "channel", "r", visibility, uuid.uuid4(), now, 0, now)  # type: ignore[arg-type]


def test_direct_key_is_the_same_in_both_orders_and_differs_per_pair() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert direct_key(a, b) == direct_key(b, a)
    assert direct_key(a, b) != direct_key(a, c)
    assert direct_key(a, a) == f"{a}:{a}"


def test_read_position_is_clamped_and_never_moves_back() -> None:
    assert clamp_read(10, 2, 7) == 7
    assert clamp_read(5, 2, 7) == 5
    assert clamp_read(1, 2, 7) is None
    assert clamp_read(2, 2, 7) is None


def test_access_hides_private_rooms_from_non_members() -> None:
    assert access_of(None, False) == "hidden"
    assert access_of(room("private"), False) == "hidden"
    assert access_of(room("public"), False) == "visible"
    assert access_of(room("private"), True) == "member"


def test_text_rules_count_code_points() -> None:
    assert text_problem("😀" * 4000) is None
    problem = text_problem("😀" * 4001)
    assert problem is not None
    assert problem[0] == "message_too_long"
    assert text_problem("\u3000") is not None  # ideographic space only
    assert text_problem("\ud800x") is not None


def test_name_rules() -> None:
    assert name_problem("  general ") is None
    assert name_problem("   ") is not None
    assert name_problem("x" * 81) is not None
    assert name_problem(" " + "x" * 80 + " ") is None
    assert name_problem("a\nb") is not None
