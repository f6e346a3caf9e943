"""The `auth.revocations.query.v1` responder: verifiers ask, at start and after every broker
reconnect, for the sessions revoked in the last 15 minutes (an access token's lifetime)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chat_contracts import types
from chat_runtime.messaging import Envelope

from auth_service.deps import Deps
from auth_service.store import RevokedSession, SessionRepository
from auth_service.wire import revoked_session_of


async def recently_revoked(deps: Deps) -> list[RevokedSession]:
    since = deps.now() - timedelta(seconds=deps.settings.revocation_window_s)
    async with deps.sessions() as s:
        return await SessionRepository(s).revoked_since(since)


def reply_of(revoked: list[RevokedSession]) -> types.AuthRevocationsReplyV1:
    return types.AuthRevocationsReplyV1(sessions=[revoked_session_of(r) for r in revoked])


async def answer(deps: Deps, _: Envelope[Any]) -> types.AuthRevocationsReplyV1:
    return reply_of(await recently_revoked(deps))
