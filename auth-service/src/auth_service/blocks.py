"""Blocking (api-v1.1 C): block and unblock another user, list whom the caller blocks. Every
real change is announced as `auth.block.changed.v1` through the outbox in its transaction; a
repeat (block a blocked user, unblock one not blocked) changes and announces nothing."""

from __future__ import annotations

import uuid

from auth_service.block_store import BlockRepository
from auth_service.deps import Deps
from auth_service.domain.blocks import Target, self_errors, target_exists
from auth_service.domain.tokens import AccessClaims
from auth_service.errors import ValidationFailed, not_found
from auth_service.events import add_block_changed
from auth_service.store import UserRepository


async def set_blocked(
    deps: Deps, claims: AccessClaims, target_id: uuid.UUID, blocked: bool
) -> None:
    """Block (`blocked`) or unblock the user `target_id`; idempotent."""
    errors = self_errors(claims.user_id, target_id)
    if errors:
        raise ValidationFailed(errors)
    changed = False
    async with deps.sessions.begin() as s:
        # No lock on the other's row: a block that races the other's account deletion acts
        # on nothing afterwards, like the blocks a deleted account leaves behind.
        user = await UserRepository(s).by_id(target_id)
        target = Target(user.id, user.deleted) if user is not None else None
        if not target_exists(target, blocking=blocked):
            raise not_found()
        repo = BlockRepository(s)
        now = deps.now()
        if blocked:
            version = await repo.block(claims.user_id, target_id, now)
        else:
            version = await repo.unblock(claims.user_id, target_id, now)
        if version is not None:
            await add_block_changed(s, claims.user_id, target_id, blocked, version)
            changed = True
    if changed:
        deps.notify()


async def blocked_users(deps: Deps, claims: AccessClaims) -> list[uuid.UUID]:
    async with deps.sessions() as s:
        return await BlockRepository(s).blocked_by(claims.user_id)
