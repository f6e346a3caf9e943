"""The signed-in user's own account (api-v1.1 C): profile, sessions, deletion."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from auth_service.deps import Deps
from auth_service.domain.people import (
    DELETED_DISPLAY_NAME,
    Action,
    Role,
    deleted_username,
    timezone_errors,
)
from auth_service.domain.sessions import RevokeReason
from auth_service.domain.tokens import AccessClaims
from auth_service.domain.usernames import display_name_errors, normalize_display_name
from auth_service.errors import (
    InvalidCredentials,
    Refused,
    Unauthorized,
    ValidationFailed,
    WrongCurrentPassword,
    not_found,
)
from auth_service.events import add_sessions_revoked, add_user_updated
from auth_service.sign_in import check_password
from auth_service.store import (
    AuditRepository,
    ResetRepository,
    SessionInfo,
    SessionRepository,
    UserRecord,
    UserRepository,
)


@dataclass(frozen=True)
class ProfileChange:
    """Only the fields the request named (api-v1.1 C `PATCH /v1/users/me`)."""

    display_name: str | None = None
    set_avatar: bool = False
    avatar_file_id: uuid.UUID | None = None
    set_timezone: bool = False
    timezone: str | None = None


async def update_profile(deps: Deps, claims: AccessClaims, change: ProfileChange) -> UserRecord:
    values: dict[str, object] = {}
    errors = []
    if change.display_name is not None:
        errors += display_name_errors(change.display_name)
        values["display_name"] = normalize_display_name(change.display_name)
    if change.set_avatar:
        values["avatar_file_id"] = change.avatar_file_id
    if change.set_timezone:
        if change.timezone is not None:
            errors += timezone_errors(change.timezone)
        values["timezone"] = change.timezone
    if errors:
        raise ValidationFailed(errors)
    async with deps.sessions.begin() as s:
        repo = UserRepository(s)
        if not values:
            user = await repo.by_id(claims.user_id)
            if user is None:
                raise Unauthorized("user_gone")
            return user
        updated = await repo.update(claims.user_id, **values)
        if updated is None:
            raise Unauthorized("user_gone")
        await add_user_updated(s, [updated])
    deps.notify()
    return updated


async def list_sessions(deps: Deps, claims: AccessClaims) -> list[SessionInfo]:
    now = deps.now()
    idle_since = now - timedelta(seconds=deps.settings.refresh_idle_s)
    async with deps.sessions() as s:
        return await SessionRepository(s).list_active(claims.user_id, now, idle_since)


async def end_session(deps: Deps, claims: AccessClaims, session_id: uuid.UUID) -> None:
    """End one of the caller's own sessions (404 for anyone else's, or an ended one)."""
    async with deps.sessions.begin() as s:
        revoked = await SessionRepository(s).revoke_own(
            session_id, claims.user_id, RevokeReason.SESSION_ENDED.value, deps.now()
        )
        if revoked is None:
            raise not_found("session")
        await add_sessions_revoked(s, [revoked], RevokeReason.SESSION_ENDED)
    deps.notify()


async def delete_account(deps: Deps, claims: AccessClaims, password: str, address: str) -> None:
    """Erase the account: deactivated and deleted, username `deleted-<8 hex>`, display name
    "Deleted user", no password hash, avatar or time zone, every session ended; its messages
    stay (message-service removes the memberships on auth.user.updated.v1 `deleted`)."""
    async with deps.sessions() as s:
        user = await UserRepository(s).by_id(claims.user_id)
    if user is None:
        raise Unauthorized("user_gone")
    # The password is guessed like a login: same throttles.
    try:
        await check_password(deps, user.username, password, address)
    except InvalidCredentials as exc:
        raise WrongCurrentPassword() from exc
    async with deps.sessions.begin() as s:
        repo = UserRepository(s)
        locked = await repo.by_id(user.id, for_update=True)
        if locked is None:
            raise Unauthorized("user_gone")
        if locked.role == Role.OWNER:
            raise Refused(
                409,
                "owner_must_transfer",
                "You own this workspace: hand ownership to someone else before deleting "
                "your account.",
            )
        now = deps.now()
        erased = await repo.update(
            user.id,
            username=deleted_username(),
            display_name=DELETED_DISPLAY_NAME,
            password_hash="",
            avatar_file_id=None,
            timezone=None,
            deactivated=True,
            deleted=True,
            role=Role.MEMBER,
            password_changed_at=now,
        )
        assert erased is not None
        sessions = SessionRepository(s)
        revoked = await sessions.revoke_all(user.id, RevokeReason.ACCOUNT_DELETED.value, now)
        await sessions.forget_refresh_tokens(user.id)
        await ResetRepository(s).void_all(user.id, now)
        await add_sessions_revoked(s, revoked, RevokeReason.ACCOUNT_DELETED)
        await add_user_updated(s, [erased])
        await AuditRepository(s).add(
            actor_id=user.id,
            action=Action.ACCOUNT_DELETED,
            target_id=user.id,
            at=now,
            ip=address,
        )
    deps.notify()
