"""The bearer check of auth-service's own endpoints."""

from __future__ import annotations

from chat_runtime.logging import security_event

from auth_service.deps import Deps
from auth_service.domain.tokens import AccessClaims
from auth_service.errors import Unauthorized
from auth_service.keys import InvalidAccessToken
from auth_service.store import SessionRepository


async def authenticate(deps: Deps, token: str) -> AccessClaims:
    """Signature and claims here, and the session against the database (authoritative, unlike
    the 15-minute revocation window other services rely on)."""
    try:
        deps.keyring.reload_if_changed()
        claims = deps.keyring.verify(token, now=deps.clock())
    except InvalidAccessToken as exc:
        security_event("token_refused", reason=exc.reason)
        raise Unauthorized(exc.reason) from exc
    async with deps.sessions() as s:
        if not await SessionRepository(s).is_active(claims.session_id, deps.now()):
            security_event("token_refused", reason="session_revoked", user_id=str(claims.user_id))
            raise Unauthorized("session_revoked")
    return claims
