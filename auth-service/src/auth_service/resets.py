"""Password-reset links (api-v1.1 C): made by an admin or the operator (`reset-link`), used at
`POST /v1/auth/password-reset`. 256 random bits in the URL fragment (never sent to a server
log), stored as a SHA-256 hash, valid `CHAT_AUTH_RESET_TTL_S` (1 h), one use, a newer link
voids the older ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chat_runtime.logging import security_event
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.deps import Deps
from auth_service.domain import sessions as token_rules
from auth_service.domain.passwords import password_errors
from auth_service.domain.sessions import RevokeReason
from auth_service.errors import InvalidReset, ValidationFailed
from auth_service.events import add_sessions_revoked
from auth_service.store import ResetRepository, SessionRepository, UserRecord, UserRepository


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime


async def issue(
    deps: Deps, s: AsyncSession, user: UserRecord, created_by: UserRecord | None
) -> Link:
    """In the caller's transaction (which writes the audit row)."""
    token = token_rules.new_refresh_token()
    now = deps.now()
    expires = now + timedelta(seconds=deps.settings.reset_ttl_s)
    await ResetRepository(s).issue(
        token_rules.hash_refresh_token(token),
        user.id,
        created_by.id if created_by else None,
        now,
        expires,
    )
    return Link(f"{deps.settings.client_url}/#/reset?token={token}", expires)


async def reset_password(deps: Deps, token: str, new_password: str) -> None:
    """Same work on every refusal: one lookup statement, then one argon2 hash (of the offered
    password, thrown away), so used, voided, expired and unknown tokens, and deactivated users,
    answer alike and in the same time."""
    token_hash = token_rules.hash_refresh_token(token)
    async with deps.sessions() as s:
        user = await ResetRepository(s).usable(token_hash, deps.now())
    if user is None:
        await deps.hasher.hash(new_password[:256])
        raise InvalidReset()
    errors = password_errors(
        new_password, user.username, other_inputs=(user.display_name,), field="new_password"
    )
    if errors:
        raise ValidationFailed(errors)
    new_hash = await deps.hasher.hash(new_password)
    async with deps.sessions.begin() as s:
        now = deps.now()
        resets = ResetRepository(s)
        # Locked and checked again: two uses of one link at once, one wins.
        if await resets.usable(token_hash, now, for_update=True) is None:
            raise InvalidReset()
        await resets.mark_used(token_hash, now)
        await UserRepository(s).set_password_hash(user.id, new_hash, changed_at=now)
        revoked = await SessionRepository(s).revoke_all(
            user.id, RevokeReason.PASSWORD_RESET.value, now
        )
        await add_sessions_revoked(s, revoked, RevokeReason.PASSWORD_RESET)
    deps.notify()
    security_event(
        "password_changed", user_id=str(user.id), via="reset_link", sessions_ended=len(revoked)
    )
