"""GET /v1/auth/jwks: the public verification keys (current and previous)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from auth_service.keys import KeyRing

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class JwkSet(BaseModel):
    """RFC 7517 JWK set; declared for the OpenAPI document only (the body is the key ring's)."""

    keys: list[dict[str, Any]]


@router.get(
    "/jwks",
    response_model=None,
    responses={200: {"model": JwkSet, "content": {"application/jwk-set+json": {}}}},
)
async def jwks(request: Request) -> JSONResponse:
    keyring: KeyRing = request.app.state.keyring
    keyring.reload_if_changed()
    body: dict[str, Any] = keyring.jwks()
    # Short cache: verifiers refetch on an unknown kid anyway, so a rotation is seen at once.
    return JSONResponse(
        body,
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=300"},
    )
