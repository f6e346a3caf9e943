"""The name and purpose of an upload (DESIGN §4): pure rules, no I/O."""

from __future__ import annotations

import unicodedata
from typing import Literal

__all__ = [
    "DEFAULT_NAME",
    "MAX_NAME_CHARS",
    "PURPOSES",
    "BadField",
    "Purpose",
    "check_name",
    "check_purpose",
    "choose_name",
]

Purpose = Literal["attachment", "avatar"]
PURPOSES: tuple[Purpose, ...] = ("attachment", "avatar")
DEFAULT_NAME = "file"
MAX_NAME_CHARS = 255
# Bidi overrides and isolates would make "gpj.exe" read as "exe.jpg" (api-v1.1 F refuses them
# in display and room names too).
_BIDI_CONTROLS = frozenset(
    chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
)


class BadField(Exception):
    """A form field that cannot be used: `field` (`name`, `purpose`, `file`), the rule it
    breaks and why in plain words (the 422 problem's `errors` entry)."""

    def __init__(self, field: str, rule: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.rule = rule
        self.detail = detail


def check_name(value: str) -> str:
    """The trimmed name, or BadField: 1..255 characters, no path separators, no control or
    bidi-control characters, not "." or ".."."""
    name = value.strip()
    if not name:
        raise BadField("name", "required", "The file name must not be empty.")
    if len(name) > MAX_NAME_CHARS:
        raise BadField(
            "name", "too_long", f"The file name must be at most {MAX_NAME_CHARS} characters."
        )
    if "/" in name or "\\" in name or name in (".", ".."):
        raise BadField("name", "path", "The file name must not contain a path.")
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            raise BadField("name", "control", "The file name must not contain control characters.")
    return name


def choose_name(field: str | None, part_filename: str | None) -> str:
    """The `name` field when sent (checked strictly), else the file part's filename (its last
    path segment: old browsers send `C:\\fakepath\\x.png`), else "file"."""
    if field is not None:
        return check_name(field)
    if part_filename:
        last = part_filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
        if last:
            return check_name(last)
    return DEFAULT_NAME


def check_purpose(value: str | None) -> Purpose:
    """`attachment` (also when absent) or `avatar`; anything else is BadField."""
    if value is None or value.strip() == "":
        return "attachment"
    purpose = value.strip()
    if purpose not in PURPOSES:
        raise BadField("purpose", "enum", "The purpose must be 'attachment' or 'avatar'.")
    return purpose
