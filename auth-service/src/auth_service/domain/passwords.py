"""Password rules (api-v1 §3): length, common passwords, username, guessability.

Every broken rule is reported, each with a sentence that says how to fix it (QA-004).
"""

from __future__ import annotations

from functools import cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from auth_service.domain.usernames import RuleViolation, has_unstorable

PASSWORD_MIN = 12
PASSWORD_MAX = 128
MIN_ZXCVBN_SCORE = 3
# zxcvbn's ranked list of leaked passwords (30 000 entries) — the same data it scores with.
COMMON_PASSWORD_LIST = "passwords"  # noqa: S105 - a list name


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS[COMMON_PASSWORD_LIST])


def is_common(password: str) -> bool:
    return password.lower() in _common_passwords()


ZXCVBN_MAX_LENGTH = 72


def password_errors(
    password: str,
    username: str = "",
    *,
    other_inputs: tuple[str, ...] = (),
    field: str = "password",
) -> list[RuleViolation]:
    """Every rule the password breaks; an empty list means it is acceptable."""
    errors: list[RuleViolation] = []
    length = len(password)
    if length < PASSWORD_MIN:
        errors.append(
            RuleViolation(
                field, "too_short", f"Use at least {PASSWORD_MIN} characters (you used {length})."
            )
        )
    if length > PASSWORD_MAX:
        errors.append(
            RuleViolation(
                field, "too_long", f"Use at most {PASSWORD_MAX} characters (you used {length})."
            )
        )
    if has_unstorable(password):
        errors.append(
            RuleViolation(
                field,
                "invalid_characters",
                "Remove invisible characters such as NUL from the password.",
            )
        )
        # zxcvbn and the hasher need real text; the other rules still apply.
        password = password.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if password and is_common(password):
        errors.append(
            RuleViolation(
                field,
                "common_password",
                "This is one of the most common passwords; pick something less predictable.",
            )
        )
    name = username.strip().lower()
    if name and name in password.lower():
        errors.append(
            RuleViolation(
                field, "contains_username", "Don't include your username in the password."
            )
        )
    # zxcvbn's cost grows with length; past the maximum the password is refused anyway.
    if length <= PASSWORD_MAX:
        inputs = [s for s in (name, *other_inputs) if s]
        # zxcvbn 4.5 refuses more than 72 characters (ValueError); the first 72 decide the
        # score, since a longer password is never weaker than its prefix.
        result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=inputs) if password else None
        if result is None or result["score"] < MIN_ZXCVBN_SCORE:
            message = (
                "This password is too easy to guess; add more words or mix in something unexpected."
            )
            warning = (result or {}).get("feedback", {}).get("warning") if result else ""
            if warning:
                message = f"{message} Hint: {str(warning).rstrip('.')}."
            errors.append(RuleViolation(field, "too_guessable", message))
    return errors
