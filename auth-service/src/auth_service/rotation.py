"""POST /v1/auth/refresh: rotate the refresh token (policy in `domain/sessions.py`)."""

from __future__ import annotations

from datetime import timedelta

from chat_runtime.logging import get_logger

from auth_service.deps import Deps
from auth_service.domain import sessions as session_rules
from auth_service.domain.sessions import RefreshAction, RefreshTokenState, RevokeReason
from auth_service.errors import InvalidRefresh
from auth_service.events import add_sessions_revoked
from auth_service.sign_in import SignedIn, signed_in
from auth_service.store import (
    ClientInfo,
    RefreshTokenRepository,
    SessionRepository,
    UserRepository,
)

log = get_logger("auth_service.rotation")


async def refresh(deps: Deps, token: str | None, client: ClientInfo | None = None) -> SignedIn:
    if not token or len(token) > 256:
        raise InvalidRefresh()
    token_hash = session_rules.hash_refresh_token(token)
    now = deps.now()
    grace = timedelta(seconds=deps.settings.refresh_grace_s)
    idle = timedelta(seconds=deps.settings.refresh_idle_s)
    reused = False
    async with deps.sessions.begin() as s:
        tokens = RefreshTokenRepository(s)
        record = await tokens.get_for_update(token_hash)
        state = (
            RefreshTokenState(
                rotated_at=record.rotated_at,
                successor_rotated=record.successor_rotated,
                session_revoked=record.session_revoked,
                session_expires_at=record.session_expires_at,
                last_used_at=record.session_last_used_at,
            )
            if record
            else None
        )
        action = session_rules.decide_refresh(state, now, grace, idle)
        successor: str | None = None
        if record is not None and action is RefreshAction.ROTATE:
            successor = session_rules.new_refresh_token()
            successor_hash = session_rules.hash_refresh_token(successor)
            await tokens.add(successor_hash, record.session_id, now)
            await tokens.mark_rotated(
                token_hash, successor_hash, session_rules.seal_successor(token, successor), now
            )
            await SessionRepository(s).touch(record.session_id, now, client)
        elif record is not None and action is RefreshAction.REPLAY_SUCCESSOR:
            successor = session_rules.open_successor(token, record.successor_box or b"")
        elif record is not None and action is RefreshAction.REVOKE_SESSION:
            revoked = await SessionRepository(s).revoke(
                record.session_id, RevokeReason.REFRESH_REUSE.value, now
            )
            if revoked:
                await add_sessions_revoked(s, [revoked], RevokeReason.REFRESH_REUSE)
            log.warning(
                "refresh_token_reused",
                session_id=str(record.session_id),
                user_id=str(record.user_id),
            )
            reused = True
        user = await UserRepository(s).by_id(record.user_id) if record else None
    if reused:
        deps.notify()
    # A sign-in racing a deactivation may have left a session behind: it refreshes nothing.
    if record is None or successor is None or user is None or user.deactivated:
        raise InvalidRefresh()
    return signed_in(deps, user, record.session_id, successor, record.session_expires_at)
