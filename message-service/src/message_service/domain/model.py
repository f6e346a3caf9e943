"""Value objects of message-service and the rules about rooms and memberships."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

RoomKind = Literal["channel", "direct"]
Visibility = Literal["public", "private"]
# `text` in v1; the others are reserved timeline entries (api-v1 `message`).
MessageKind = Literal["text", "edit", "delete", "system"]


@dataclass(frozen=True, slots=True)
class Message:
    id: UUID
    room_id: UUID
    seq: int
    kind: MessageKind
    sender_id: UUID
    text: str
    client_msg_id: UUID
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Room:
    id: UUID
    kind: RoomKind
    name: str
    visibility: Visibility
    created_by: UUID
    created_at: datetime
    last_seq: int
    last_activity_at: datetime
    direct_key: str | None = None


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room as one user sees it (api-v1 `room`)."""

    room: Room
    member_count: int
    last_read_seq: int

    @property
    def unread_count(self) -> int:
        return unread_count(self.room.last_seq, self.last_read_seq)


def unread_count(last_seq: int, last_read_seq: int) -> int:
    # Own sends advance the sender's read position, so everything after it is someone else's.
    return max(0, last_seq - last_read_seq)


def direct_key(user_a: UUID, user_b: UUID) -> str:
    """The one key of the direct room of two users, whatever the order they are given in."""
    low, high = sorted((user_a, user_b))
    return f"{low}:{high}"


def clamp_read(requested: int, current: int, last_seq: int) -> int | None:
    """New read position, or None when it would not move (never past last_seq, never back)."""
    target = min(requested, last_seq)
    return target if target > current else None


Access = Literal["member", "visible", "hidden"]


def access_of(room: Room | None, is_member: bool) -> Access:
    """What a user may see of a room: members everything, others a public room's card only."""
    if room is None:
        return "hidden"
    if is_member:
        return "member"
    return "visible" if room.visibility == "public" else "hidden"
