"""Notification levels of a membership (api-v1.1 B): which new entries of a room notify."""

from __future__ import annotations

from typing import Literal, get_args

NotifyLevel = Literal["all", "mentions", "none"]
NOTIFY_LEVELS: tuple[str, ...] = get_args(NotifyLevel)


def default_notify(room_kind: str) -> NotifyLevel:
    """The level of a member who never chose one: `all` in direct rooms, `mentions` in
    channels."""
    return "all" if room_kind == "direct" else "mentions"


def effective_notify(room_kind: str, stored: str | None) -> NotifyLevel:
    """The level a member has: the one they chose (memberships.notify), else the default."""
    if stored == "all":
        return "all"
    if stored == "mentions":
        return "mentions"
    if stored == "none":
        return "none"
    return default_notify(room_kind)
