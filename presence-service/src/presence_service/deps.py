"""FastAPI dependency aliases shared by the routes."""

from __future__ import annotations

from typing import Annotated

from chat_runtime.tokens import AccessClaims, TokenVerifier, bearer_claims
from fastapi import Depends, Request


def get_verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


# A module-level name, so tests can override authentication with `dependency_overrides`.
current_user = bearer_claims(get_verifier)
CurrentUser = Annotated[AccessClaims, Depends(current_user)]
