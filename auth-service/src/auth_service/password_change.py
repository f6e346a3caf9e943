"""POST /v1/auth/password: new hash, and every other session of the user ends."""

from __future__ import annotations

from chat_runtime.logging import security_event

from auth_service.deps import Deps
from auth_service.domain.passwords import password_errors
from auth_service.domain.sessions import RevokeReason
from auth_service.domain.tokens import AccessClaims
from auth_service.errors import (
    InvalidCredentials,
    Unauthorized,
    ValidationFailed,
    WrongCurrentPassword,
)
from auth_service.events import add_sessions_revoked
from auth_service.sign_in import check_password
from auth_service.store import SessionRepository, UserRepository


async def change_password(
    deps: Deps,
    claims: AccessClaims,
    current: str,
    new: str,
    address: str,
    device: str | None = None,
) -> None:
    async with deps.sessions() as s:
        user = await UserRepository(s).by_id(claims.user_id)
    if user is None:
        raise Unauthorized("user_gone")
    errors = password_errors(
        new, user.username, other_inputs=(user.display_name,), field="new_password"
    )
    if errors:
        raise ValidationFailed(errors)
    # The current password is guessed like a login: same throttles, so a stolen access token
    # cannot be used to brute-force it.
    try:
        await check_password(deps, user.username, current, address, device)
    except InvalidCredentials as exc:
        raise WrongCurrentPassword() from exc
    new_hash = await deps.hasher.hash(new)
    async with deps.sessions.begin() as s:
        now = deps.now()
        await UserRepository(s).set_password_hash(user.id, new_hash, changed_at=now)
        revoked = await SessionRepository(s).revoke_all(
            user.id, RevokeReason.PASSWORD_CHANGED.value, now, except_session=claims.session_id
        )
        await add_sessions_revoked(s, revoked, RevokeReason.PASSWORD_CHANGED)
    deps.notify()
    security_event(
        "password_changed",
        user_id=str(user.id),
        session_id=str(claims.session_id),
        address=address,
        sessions_ended=len(revoked),
    )
