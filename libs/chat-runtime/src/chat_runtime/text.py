"""Rules for names people see (display names, room names): no invisible characters that reorder
or hide text (api-v1.1 F). Pure functions; each service maps the rules to its 422 errors."""

from __future__ import annotations

from enum import StrEnum

from chat_runtime.http.problems import FieldError, Problem


class NameRule(StrEnum):
    # Embeddings, overrides and isolates: they make "txt.exe" show as "exe.txt" (Trojan Source).
    BIDI_CONTROL = "bidi_control"
    # Characters of no width: two names that look the same are different strings.
    ZERO_WIDTH = "zero_width"


BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
ZERO_WIDTH_CHARACTERS = frozenset(("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"))

MESSAGES = {
    NameRule.BIDI_CONTROL: (
        "Remove the invisible characters that change the direction of text "
        "(U+202A to U+202E, U+2066 to U+2069)."
    ),
    NameRule.ZERO_WIDTH: (
        "Remove the invisible zero-width characters (U+200B to U+200D, U+2060, U+FEFF)."
    ),
}


def name_problems(value: str) -> list[NameRule]:
    """Every rule `value` breaks, in a fixed order; empty when the name may be shown."""
    chars = set(value)
    rules: list[NameRule] = []
    if chars & BIDI_CONTROLS:
        rules.append(NameRule.BIDI_CONTROL)
    if chars & ZERO_WIDTH_CHARACTERS:
        rules.append(NameRule.ZERO_WIDTH)
    return rules


def name_field_errors(value: str, field: str) -> list[FieldError]:
    """The rules `value` breaks as api-v1 §2 field errors (`code` names the rule)."""
    return [{"field": field, "code": str(r), "message": MESSAGES[r]} for r in name_problems(value)]


def refuse_invisible_names(**names: str | None) -> None:
    """Raise the 422 `validation_failed` problem listing every broken rule of every name given
    (None = not given)."""
    errors = [
        error
        for field, value in names.items()
        if value is not None
        for error in name_field_errors(value, field)
    ]
    if errors:
        raise Problem(
            422,
            "validation_failed",
            "The name contains invisible characters; each problem is listed with how to fix it.",
            errors=errors,
        )
