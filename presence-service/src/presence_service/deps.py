"""FastAPI dependency aliases shared by the routes."""

from __future__ import annotations

from typing import Annotated

from chat_runtime.tokens import AccessClaims, TokenVerifier, bearer_claims
from fastapi import Depends, Request

from presence_service.service import PresenceService


def get_verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.host.verifier
    return verifier


def get_presence_service(request: Request) -> PresenceService:
    service: PresenceService = request.app.state.host.state.presence
    return service


# A module-level name, so tests can override authentication with `dependency_overrides`.
current_user = bearer_claims(get_verifier)
CurrentUser = Annotated[AccessClaims, Depends(current_user)]
PresenceDep = Annotated[PresenceService, Depends(get_presence_service)]
