"""Rules a JSON Schema keyword states that msgspec.Meta cannot: real dates, unique items, one of
some fields present (an `anyOf` of `required` lists).

Used by the generated structs' ``__post_init__`` (msgspec turns the ValueError into a
ValidationError with the struct's path) and by the JSON Schema format checker, so both engines
share one definition of a timestamp.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from datetime import datetime

import msgspec

__all__ = ["check_present", "check_timestamp", "check_unique", "is_date_time"]

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:([0-9]{2})(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:([0-9]{2}))"
)


def is_date_time(value: str) -> bool:
    """An RFC 3339 date-time with seconds and an offset, naming a date and time that exist."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        return False
    offset_minutes = match.group(2)
    if offset_minutes is not None and offset_minutes > "59":
        return False
    # fromisoformat (C, fast) checks the date exists, hours, minutes, seconds, offset < 24 h.
    try:
        datetime.fromisoformat(value)
    except ValueError:
        if match.group(1) != "60":
            return False
        # RFC 3339 allows a leap second (60); datetime does not: check the rest with :59.
        try:
            datetime.fromisoformat(value[:17] + "59" + value[19:])
        except ValueError:
            return False
    return True


def check_timestamp(field: str, value: str) -> None:
    if not is_date_time(value):
        raise ValueError(
            f"{field}: must be an RFC 3339 timestamp like 2026-11-26T15:04:05.123Z, got {value!r}"
        )


def check_unique(field: str, values: Sequence[Hashable]) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"{field}: must not repeat an item")


def check_present(struct: object, alternatives: Sequence[Sequence[str]]) -> None:
    """A schema's `anyOf` of `required` lists: every field of at least one list is present."""
    if not any(
        all(getattr(struct, f) is not msgspec.UNSET for f in fields) for fields in alternatives
    ):
        wanted = " or ".join(", ".join(fields) for fields in alternatives)
        raise ValueError(f"needs {wanted}")
