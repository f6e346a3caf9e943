"""Text rules shared by the REST endpoint and the send-command consumer (api-v1 §4)."""

from __future__ import annotations

from typing import Literal

MAX_TEXT_CODE_POINTS = 4000

TextProblem = Literal["bad_request", "message_too_long"]


def _has_unstorable(text: str) -> bool:
    # PostgreSQL text cannot hold NUL, and lone surrogates (possible via JSON "\ud800") cannot be
    # encoded as UTF-8: refusing them here keeps them from becoming poison commands later.
    return any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in text)


def text_problem(text: str) -> tuple[TextProblem, str] | None:
    """Return (code, plain-words reason) when `text` breaks a rule, else None.

    The text itself is never changed: it is stored and returned verbatim.
    """
    if len(text) > MAX_TEXT_CODE_POINTS:
        return (
            "message_too_long",
            f"A message can have at most {MAX_TEXT_CODE_POINTS} characters "
            f"(this one has {len(text)}).",
        )
    if not text or text.isspace():
        return ("bad_request", "A message needs at least one character that is not a space.")
    if _has_unstorable(text):
        return ("bad_request", "The message contains characters that cannot be stored.")
    return None


def name_problem(name: str, *, max_length: int = 80) -> str | None:
    """Check a room name after trimming; return a plain-words reason when it is not allowed."""
    trimmed = name.strip()
    if not trimmed:
        return "Give the room a name."
    if len(trimmed) > max_length:
        return f"Use at most {max_length} characters for the name (you used {len(trimmed)})."
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in trimmed) or _has_unstorable(trimmed):
        return "The name cannot contain control characters."
    return None
