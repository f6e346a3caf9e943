"""Broker side of auth-service: the `auth.revocations.query.v1` responder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from auth_service.service import AuthService, revoked_json

QUERY_QUEUE = "auth-service.query"
REVOCATIONS_QUERY = "auth.revocations.query.v1"
REVOCATIONS_REPLY = "auth.revocations.reply.v1"

Responder = Callable[[dict[str, Any]], Awaitable[tuple[str, dict[str, Any]]]]


def revocations_responder(service: AuthService) -> Responder:
    """Verifiers ask at start for the sessions revoked in the last 15 minutes."""

    async def respond(_: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        revoked = await service.recently_revoked()
        return REVOCATIONS_REPLY, {"sessions": [revoked_json(r) for r in revoked]}

    return respond
