"""Notify levels (api-v1.1 B): the default by room kind and a stored choice."""

from __future__ import annotations

import pytest
from message_service.domain.notify import NOTIFY_LEVELS, default_notify, effective_notify


def test_defaults_by_kind() -> None:
    assert default_notify("direct") == "all"
    assert default_notify("channel") == "mentions"


@pytest.mark.parametrize("kind", ["direct", "channel"])
@pytest.mark.parametrize("stored", NOTIFY_LEVELS)
def test_a_stored_choice_wins(kind: str, stored: str) -> None:
    assert effective_notify(kind, stored) == stored


@pytest.mark.parametrize(("kind", "expected"), [("direct", "all"), ("channel", "mentions")])
def test_no_choice_or_an_unknown_value_is_the_default(kind: str, expected: str) -> None:
    assert effective_notify(kind, None) == expected
    assert effective_notify(kind, "loud") == expected


def test_levels() -> None:
    assert NOTIFY_LEVELS == ("all", "mentions", "none")
