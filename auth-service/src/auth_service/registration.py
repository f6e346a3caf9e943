"""POST /v1/auth/register: every broken rule reported at once, then one hash, one transaction."""

from __future__ import annotations

import uuid

from auth_service.deps import Deps
from auth_service.domain.passwords import password_errors
from auth_service.domain.throttle import Scope
from auth_service.domain.usernames import (
    display_name_errors,
    normalize_display_name,
    normalize_username,
    username_errors,
)
from auth_service.errors import UsernameTaken, ValidationFailed
from auth_service.events import add_user_registered
from auth_service.store import UserRecord, UserRepository


async def register(
    deps: Deps, username_raw: str, display_name_raw: str, password: str, address: str
) -> UserRecord:
    errors = [
        *username_errors(username_raw),
        *display_name_errors(display_name_raw),
        *password_errors(
            password,
            username_raw,
            other_inputs=(normalize_display_name(display_name_raw)[:64],),
        ),
    ]
    if errors:
        raise ValidationFailed(errors)
    # Every registration that gets this far costs a hash: limit them per address. They count
    # whether or not they succeed (nothing to undo, unlike a login).
    await deps.throttle.count(deps.sessions, [(Scope.REGISTER, address)], deps.clock())
    user = UserRecord(
        id=uuid.uuid4(),
        username=normalize_username(username_raw),
        display_name=normalize_display_name(display_name_raw),
        password_hash=await deps.hasher.hash(password),
        created_at=deps.now(),
    )
    async with deps.sessions.begin() as s:
        if not await UserRepository(s).add(user):
            raise UsernameTaken()
        await add_user_registered(s, user)
    deps.notify()
    return user
