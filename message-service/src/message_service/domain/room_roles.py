"""Who may manage a room (api-v1.1 C): room admins, the refusals of the room endpoints, the
last-admin rule and the topic rules. Pure: the use cases (services/room_admin.py) read the
facts and ask these functions."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from message_service.domain import errors
from message_service.domain.model import Room

RoomRole = Literal["admin", "member"]
# Workspace roles (users.role of the projection) that act as room admins in the channels their
# holders are members of.
WORKSPACE_ADMIN_ROLES: frozenset[str] = frozenset({"owner", "admin"})
TOPIC_MAX = 250


@dataclass(frozen=True, slots=True)
class Standing:
    """One user in one room: their membership role (None: not a member) and workspace role."""

    member_role: str | None
    workspace_role: str | None = None

    @property
    def member(self) -> bool:
        return self.member_role is not None


def is_room_admin(kind: str, standing: Standing) -> bool:
    """A channel's member with the room role `admin`, or a workspace owner/admin who is a member
    of it. Direct rooms have no room admins."""
    if kind != "channel" or not standing.member:
        return False
    return standing.member_role == "admin" or standing.workspace_role in WORKSPACE_ADMIN_ROLES


def admin_refusal(room: Room, caller: Standing) -> errors.DomainError | None:
    """Why the caller may not manage this room, if they may not: a room they cannot see is 404
    (a private channel or a direct room is never revealed), a public channel they are not in is
    403, a direct room is 403 (nobody administers one), a member who is not a room admin 403."""
    if not caller.member:
        if room.kind == "channel" and room.visibility == "public":
            return errors.Forbidden("Only the room's admins can change this room.")
        return errors.RoomNotFound()
    if room.kind != "channel":
        return errors.Forbidden("A direct conversation has no admins: nobody can change it.")
    if not is_room_admin(room.kind, caller):
        return errors.Forbidden("Only the room's admins can change this room.")
    return None


def leaves_no_admin(admins: Set[UUID], target: UUID, *, still_admin: bool) -> bool:
    """Whether taking `target` out (removing, demoting, or they leave) leaves a channel that
    has room admins without any."""
    return target in admins and not still_admin and not (admins - {target})


def clean_topic(topic: str | None) -> str | None:
    """A topic as stored: trimmed, "" is none (null)."""
    if topic is None:
        return None
    trimmed = topic.strip()
    return trimmed or None


def topic_problem(topic: str) -> str | None:
    """A plain-words reason when a topic (before trimming) is not allowed, else None."""
    trimmed = topic.strip()
    if len(trimmed) > TOPIC_MAX:
        return f"Use at most {TOPIC_MAX} characters for the topic (you used {len(trimmed)})."
    if any((ord(ch) < 32 and ch not in "\t") or ord(ch) == 127 for ch in trimmed):
        return "The topic cannot contain control characters."
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in trimmed):
        return "The topic cannot contain unpaired surrogate characters."
    return None
