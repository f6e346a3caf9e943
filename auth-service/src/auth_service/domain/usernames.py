"""Username and display-name rules (api-v1 §3), each broken rule reported in plain words."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from chat_runtime.text import name_field_errors

USERNAME_MIN = 3
USERNAME_MAX = 32
DISPLAY_NAME_MIN = 1
DISPLAY_NAME_MAX = 64

# Checked on the raw input (both cases allowed) *before* lower-casing: str.lower() maps some
# non-ASCII letters to ASCII (KELVIN SIGN -> "k"), which would let look-alike names through.
_USERNAME_CHARS = re.compile(r"[A-Za-z0-9_.\-]*")


@dataclass(frozen=True)
class RuleViolation:
    field: str
    code: str
    message: str


def normalize_username(raw: str) -> str:
    """The stored and compared form of a username. Only ASCII is folded: stored names are
    ASCII, and folding e.g. KELVIN SIGN to "k" would give an account a second spelling."""
    return raw.lower() if raw.isascii() else raw


def username_errors(raw: str, field: str = "username") -> list[RuleViolation]:
    errors: list[RuleViolation] = []
    if len(raw) < USERNAME_MIN:
        errors.append(
            RuleViolation(
                field,
                "too_short",
                f"Use at least {USERNAME_MIN} characters (you used {len(raw)}).",
            )
        )
    if len(raw) > USERNAME_MAX:
        errors.append(
            RuleViolation(
                field,
                "too_long",
                f"Use at most {USERNAME_MAX} characters (you used {len(raw)}).",
            )
        )
    if not _USERNAME_CHARS.fullmatch(raw):
        errors.append(
            RuleViolation(
                field,
                "invalid_characters",
                "Use only letters a-z, digits 0-9, underscore (_), dot (.) and hyphen (-).",
            )
        )
    return errors


def _is_control(ch: str) -> bool:
    # Cc = C0/C1 controls; Zl/Zp = line/paragraph separators, which break single-line display;
    # Cs = lone surrogates (not encodable as UTF-8, so not storable).
    return unicodedata.category(ch) in {"Cc", "Cs", "Zl", "Zp"}


def has_unstorable(text: str) -> bool:
    """NUL (PostgreSQL text cannot hold it) or a lone surrogate (not valid UTF-8)."""
    return "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text)


def normalize_display_name(raw: str) -> str:
    return raw.strip()


def display_name_errors(raw: str, field: str = "display_name") -> list[RuleViolation]:
    name = normalize_display_name(raw)
    errors: list[RuleViolation] = []
    if len(name) < DISPLAY_NAME_MIN:
        errors.append(
            RuleViolation(field, "too_short", "Enter a display name (it can't be only spaces).")
        )
    if len(name) > DISPLAY_NAME_MAX:
        errors.append(
            RuleViolation(
                field,
                "too_long",
                f"Use at most {DISPLAY_NAME_MAX} characters (you used {len(name)}).",
            )
        )
    if any(_is_control(ch) for ch in name):
        errors.append(
            RuleViolation(
                field,
                "control_characters",
                "Remove invisible control characters such as tabs or line breaks.",
            )
        )
    # api-v1.1 F: no bidi controls nor zero-width characters, one error per rule.
    errors += [
        RuleViolation(e["field"], e["code"], e["message"]) for e in name_field_errors(name, field)
    ]
    return errors
