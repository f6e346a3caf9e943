"""People and administration rules of api-v1.1 C, pure: who may act on whom, registration modes,
profile fields and what an erased account looks like."""

from __future__ import annotations

import secrets
import zoneinfo
from enum import StrEnum
from functools import cache
from typing import Literal

from auth_service.domain.usernames import RuleViolation

DELETED_DISPLAY_NAME = "Deleted user"
TIMEZONE_MAX = 64


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Action(StrEnum):
    """Audit log actions."""

    ROLE_CHANGED = "role_changed"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    PASSWORD_RESET_LINK = "password_reset_link"  # noqa: S105 - an action name
    OWNER_TRANSFERRED = "owner_transferred"
    INVITE_CREATED = "invite_created"
    OWNER_CREATED = "owner_created"
    ACCOUNT_DELETED = "account_deleted"


def is_admin(role: str) -> bool:
    """Owner or admin: may use the administration endpoints at all."""
    return role in (Role.OWNER, Role.ADMIN)


def may_manage(actor_role: str, target_role: str) -> bool:
    """Admins act on members only; the owner on admins and members; nobody on the owner."""
    if target_role == Role.OWNER:
        return False
    if actor_role == Role.OWNER:
        return True
    return actor_role == Role.ADMIN and target_role == Role.MEMBER


def may_set_role(actor_role: str, target_role: str) -> bool:
    """Only the owner changes roles, and never their own (ownership moves by transfer)."""
    return actor_role == Role.OWNER and target_role != Role.OWNER


RegistrationMode = Literal["open", "invite", "closed"]
RegistrationRefusal = Literal["invite_required", "registration_closed"]


def registration_refusal(
    mode: RegistrationMode, *, first_account: bool, invite_valid: bool
) -> RegistrationRefusal | None:
    """Why a registration is refused before any work, or None. The first account of an empty
    database may always register (it becomes the owner), so a fresh install needs no operator
    step. `invite`: a valid invitation is needed; `closed`: nobody (but the first) registers."""
    if first_account or mode == "open":
        return None
    if mode == "closed":
        return "registration_closed"
    return None if invite_valid else "invite_required"


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_errors(value: str, field: str = "timezone") -> list[RuleViolation]:
    """An IANA time zone name known to this system's tz database."""
    if len(value) > TIMEZONE_MAX or value not in _zones():
        return [
            RuleViolation(
                field,
                "unknown_timezone",
                "Pick a time zone from the IANA list, like Europe/Paris or America/New_York.",
            )
        ]
    return []


def deleted_username() -> str:
    """`deleted-<8 hex>`: a valid username nobody can type into a sign-in (no password)."""
    return f"deleted-{secrets.token_hex(4)}"
