"""POST /v1/auth/logout and /logout-all: end sessions and announce each one on the bus."""

from __future__ import annotations

import uuid

from chat_runtime.logging import security_event

from auth_service.deps import Deps
from auth_service.domain import sessions as session_rules
from auth_service.domain.sessions import RevokeReason
from auth_service.domain.tokens import AccessClaims
from auth_service.events import add_sessions_revoked
from auth_service.keys import InvalidAccessToken
from auth_service.store import RefreshTokenRepository, SessionRepository


async def logout(deps: Deps, refresh_token: str | None, bearer: str | None) -> None:
    """End one session (every tab shares it). Never fails: signing out twice is fine."""
    session_id: uuid.UUID | None = None
    if refresh_token and len(refresh_token) <= 256:
        async with deps.sessions() as s:
            session_id = await RefreshTokenRepository(s).session_of(
                session_rules.hash_refresh_token(refresh_token)
            )
    if session_id is None and bearer:
        try:
            session_id = deps.keyring.verify(bearer, now=deps.clock()).session_id
        except InvalidAccessToken:
            session_id = None
    if session_id is None:
        return
    async with deps.sessions.begin() as s:
        revoked = await SessionRepository(s).revoke(
            session_id, RevokeReason.LOGOUT.value, deps.now()
        )
        if revoked:
            await add_sessions_revoked(s, [revoked], RevokeReason.LOGOUT)
    deps.notify()
    if revoked:
        security_event("signed_out", user_id=str(revoked.user_id), session_id=str(session_id))


async def logout_all(deps: Deps, claims: AccessClaims) -> None:
    async with deps.sessions.begin() as s:
        revoked = await SessionRepository(s).revoke_all(
            claims.user_id, RevokeReason.LOGOUT_ALL.value, deps.now()
        )
        await add_sessions_revoked(s, revoked, RevokeReason.LOGOUT_ALL)
    deps.notify()
    security_event(
        "signed_out",
        user_id=str(claims.user_id),
        session_id=str(claims.session_id),
        everywhere=True,
        sessions_ended=len(revoked),
    )
