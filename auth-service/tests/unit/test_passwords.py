"""Password rules: every broken rule reported, in sentences that say how to fix it."""

from __future__ import annotations

import pytest
from auth_service.domain.passwords import PASSWORD_MAX, PASSWORD_MIN, is_common, password_errors
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit


def codes(password: str, username: str = "") -> list[str]:
    return [e.code for e in password_errors(password, username)]


def test_short_password_message_counts_characters() -> None:
    errors = password_errors("Xq7#pLm2", "someone")
    short = next(e for e in errors if e.code == "too_short")
    assert short.message == "Use at least 12 characters (you used 8)."
    assert short.field == "password"


def test_every_broken_rule_is_listed_not_only_the_first() -> None:
    # Short, common, guessable all at once.
    assert codes("password") == ["too_short", "common_password", "too_guessable"]


def test_common_password_message() -> None:
    errors = password_errors("password1234", "bob")
    common = next(e for e in errors if e.code == "common_password")
    assert common.message == (
        "This is one of the most common passwords; pick something less predictable."
    )


def test_username_inside_password_is_refused_case_insensitively() -> None:
    errors = password_errors("xx-AliceWonder-42-zz", "alicewonder")
    assert "contains_username" in [e.code for e in errors]
    msg = next(e.message for e in errors if e.code == "contains_username")
    assert msg == "Don't include your username in the password."


def test_guessable_password_gets_advice() -> None:
    errors = password_errors("aaaaaaaaaaaaaaaa", "bob")
    guess = next(e for e in errors if e.code == "too_guessable")
    assert guess.message.startswith(
        "This password is too easy to guess; add more words or mix in something unexpected."
    )


def test_too_long_password() -> None:
    errors = password_errors("correct horse battery staple " * 5, "bob")
    assert [e.message for e in errors if e.code == "too_long"] == [
        f"Use at most {PASSWORD_MAX} characters (you used 145)."
    ]


def test_strong_password_passes() -> None:
    assert password_errors("violet-tangerine-harbor-47", "alice") == []


def test_huge_password_is_refused_quickly_without_scoring() -> None:
    errors = password_errors("q" * 10_000, "bob")
    assert [e.code for e in errors] == ["too_long"]


def test_common_check_is_case_insensitive() -> None:
    assert is_common("PASSWORD")
    assert not is_common("violet-tangerine-harbor-47")


def test_field_name_is_configurable_for_password_change() -> None:
    assert {e.field for e in password_errors("short", field="new_password")} == {"new_password"}


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=PASSWORD_MIN - 1))
def test_any_short_password_is_refused_with_its_length(password: str) -> None:
    errors = password_errors(password, "bob")
    assert any(e.code == "too_short" and f"(you used {len(password)})" in e.message for e in errors)


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=PASSWORD_MAX + 1, max_size=PASSWORD_MAX + 300))
def test_any_long_password_is_refused(password: str) -> None:
    assert "too_long" in codes(password, "bob")


@settings(max_examples=40, deadline=None)
@given(
    st.from_regex(r"[a-z0-9_.\-]{3,32}", fullmatch=True),
    st.text(max_size=20),
    st.text(max_size=20),
)
def test_password_containing_the_username_is_always_refused(
    username: str, before: str, after: str
) -> None:
    assert "contains_username" in codes(before + username.upper() + after, username)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_messages_are_sentences_and_codes_unique(password: str) -> None:
    errors = password_errors(password, "bob")
    assert len({e.code for e in errors}) == len(errors)
    for e in errors:
        assert e.message[0].isupper()
        assert e.message.endswith(".")


def test_nul_and_lone_surrogates_are_reported_not_crashing() -> None:
    for bad in ("violet\x00tangerine-harbor", "violet\ud800tangerine-harbor"):
        errors = password_errors(bad, "bob")
        assert "invalid_characters" in [e.code for e in errors]


def test_passwords_longer_than_zxcvbn_takes_are_scored_not_crashed() -> None:
    """zxcvbn 4.5 raises on more than 72 characters; a long password is a strength, not a 500."""
    long_and_strong = "correct horse battery staple " * 4  # 116 characters
    assert password_errors(long_and_strong, "bob") == []
    assert [e.code for e in password_errors("0" * 100, "bob")] == ["too_guessable"]
