"""Blocking rules of api-v1.1 C, pure: whom a user may block or unblock.

A block is one user's decision about another: blocking is allowed whatever the other's state
(deactivated too), except that nobody blocks themselves and an erased (deleted) account cannot
be blocked anew; it can still be unblocked, so the blocker can clear their list. A deleted
account's own blocks stay as they are (they act on nothing once its memberships are gone)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from auth_service.domain.usernames import RuleViolation


@dataclass(frozen=True)
class Target:
    """What the use case knows of the other user (None for them: no such account)."""

    id: uuid.UUID
    deleted: bool


def self_errors(blocker_id: uuid.UUID, target_id: uuid.UUID) -> list[RuleViolation]:
    if blocker_id == target_id:
        return [RuleViolation("user_id", "self", "You cannot block or unblock yourself.")]
    return []


def target_exists(target: Target | None, *, blocking: bool) -> bool:
    """False: answer 404. Unknown ids never exist; deleted accounts only for unblocking."""
    if target is None:
        return False
    return not (blocking and target.deleted)
