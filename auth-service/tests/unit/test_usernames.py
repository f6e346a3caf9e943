"""Username and display-name rules (api-v1 §3)."""

from __future__ import annotations

import string

import pytest
from auth_service.domain.usernames import (
    display_name_errors,
    normalize_display_name,
    normalize_username,
    username_errors,
)
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

ALLOWED = set(string.ascii_letters + string.digits + "_.-")


def test_valid_username_is_stored_lower_case() -> None:
    assert username_errors("Alice_01.x-y") == []
    assert normalize_username("Alice_01.x-y") == "alice_01.x-y"


def test_every_username_rule_reported() -> None:
    errors = username_errors("a!")
    assert [e.code for e in errors] == ["too_short", "invalid_characters"]
    assert errors[0].message == "Use at least 3 characters (you used 2)."


def test_long_username() -> None:
    errors = username_errors("a" * 33)
    assert [e.message for e in errors] == ["Use at most 32 characters (you used 33)."]


@pytest.mark.parametrize(
    "name",
    ["\u212aate", "ali ce", "bob'; DROP TABLE users;--", "émile", "zoë", "a\u0000b", "ab\u200bc"],
)
def test_lookalikes_injection_and_unicode_are_refused(name: str) -> None:
    # KELVIN SIGN lower-cases to ASCII "k": checking before lower-casing keeps it out.
    assert "invalid_characters" in [e.code for e in username_errors(name)]


@given(st.text(max_size=50))
def test_username_accepted_iff_rules_hold(name: str) -> None:
    ok = 3 <= len(name) <= 32 and set(name) <= ALLOWED
    assert (username_errors(name) == []) is ok
    if ok:
        normal = normalize_username(name)
        assert normal == normal.lower()
        assert username_errors(normal) == []


@given(st.from_regex(r"[A-Za-z0-9_.\-]{3,32}", fullmatch=True))
def test_case_variants_normalize_to_one_name(name: str) -> None:
    assert normalize_username(name.upper()) == normalize_username(name.lower())


def test_display_name_trimmed_and_checked() -> None:
    assert display_name_errors("  Alice Liddell  ") == []
    assert normalize_display_name("  Alice Liddell  ") == "Alice Liddell"
    assert [e.code for e in display_name_errors("   ")] == ["too_short"]
    assert [e.code for e in display_name_errors("x" * 65)] == ["too_long"]
    assert [e.code for e in display_name_errors("Bad\nName")] == ["control_characters"]


@given(st.text(max_size=100))
def test_display_name_rules(raw: str) -> None:
    name = raw.strip()
    errors = {e.code for e in display_name_errors(raw)}
    assert ("too_short" in errors) is (len(name) == 0)
    assert ("too_long" in errors) is (len(name) > 64)
    for e in display_name_errors(raw):
        assert e.message.endswith(".") or e.message.endswith(")")


def test_unstorable_text_detected() -> None:
    from auth_service.domain.usernames import has_unstorable

    assert has_unstorable("a\x00b")
    assert has_unstorable("a\udfffb")
    assert not has_unstorable("plain text, émoji 🎉")
    assert [e.code for e in display_name_errors("A\ud800B")] == ["control_characters"]
