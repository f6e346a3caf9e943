"""POST /v1/auth/register: the registration mode (api-v1.1 C), every broken rule reported at
once, then one hash, one transaction. The first account becomes the owner."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from auth_service.deps import Deps
from auth_service.domain import sessions as token_rules
from auth_service.domain.passwords import password_errors
from auth_service.domain.people import Role, registration_refusal
from auth_service.domain.throttle import Scope
from auth_service.domain.usernames import (
    display_name_errors,
    normalize_display_name,
    normalize_username,
    username_errors,
)
from auth_service.errors import Refused, UsernameTaken, ValidationFailed
from auth_service.events import add_user_registered, add_user_updated
from auth_service.store import InviteRepository, UserRecord, UserRepository

# Registrations take this transaction-scoped advisory lock, so "is this the first account?"
# and the invitation's use are decided one registration at a time.
REGISTRATION_LOCK = 0x61757468_72656701  # "auth" "reg" 1


def _refusal(code: str) -> Refused:
    if code == "registration_closed":
        return Refused(403, code, "Registration is closed here; ask an administrator.")
    return Refused(
        403,
        "invite_required",
        "You need a valid invitation link to register; ask an administrator for a new one.",
    )


async def register(
    deps: Deps,
    username_raw: str,
    display_name_raw: str,
    password: str,
    address: str,
    invite: str | None = None,
) -> UserRecord:
    mode = deps.settings.registration_mode
    invite_hash = token_rules.hash_refresh_token(invite) if invite and mode == "invite" else None
    async with deps.sessions() as s:
        first = not await UserRepository(s).any_user()
        valid = invite_hash is not None and await InviteRepository(s).is_usable(
            invite_hash, deps.now()
        )
    refusal = registration_refusal(mode, first_account=first, invite_valid=valid)
    if refusal:
        raise _refusal(refusal)
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
    password_hash = await deps.hasher.hash(password)
    async with deps.sessions.begin() as s:
        await s.execute(sa.select(sa.func.pg_advisory_xact_lock(REGISTRATION_LOCK)))
        repo = UserRepository(s)
        first = not await repo.any_user()
        user = UserRecord(
            id=uuid.uuid4(),
            username=normalize_username(username_raw),
            display_name=normalize_display_name(display_name_raw),
            password_hash=password_hash,
            created_at=deps.now(),
            role=Role.OWNER if first else Role.MEMBER,
            version=1,
        )
        # Decided again under the lock: the invitation is spent here, once.
        if not first and mode == "closed":
            raise _refusal("registration_closed")
        if not first and mode == "invite":
            used = invite_hash is not None and await InviteRepository(s).use(
                invite_hash, user.id, deps.now()
            )
            if not used:
                raise _refusal("invite_required")
        if not await repo.add(user):
            # Rolls back the invitation's use too: it can be tried again with another name.
            raise UsernameTaken()
        await add_user_registered(s, user)
        await add_user_updated(s, [user])
    deps.notify()
    return user
