"""Access-token claims (api-v1 §3): who, which session, when; signing happens in keys.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

ISSUER = "chat-auth"
AUDIENCE = "chat"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JWT typ
ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ("iss", "aud", "sub", "sid", "jti", "iat", "exp")


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    jti: str
    issued_at: int
    expires_at: int


def build_claims(
    user_id: uuid.UUID, session_id: uuid.UUID, *, now: float, ttl_s: int, jti: str | None = None
) -> dict[str, Any]:
    issued = int(now)
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": jti or uuid.uuid4().hex,
        "iat": issued,
        "exp": issued + ttl_s,
    }


def build_header(kid: str) -> dict[str, Any]:
    return {"typ": TOKEN_TYPE, "kid": kid}


def claims_from_payload(payload: dict[str, Any]) -> AccessClaims:
    """Typed claims from a payload PyJWT has already verified; ValueError on malformed ids."""
    return AccessClaims(
        user_id=uuid.UUID(str(payload["sub"])),
        session_id=uuid.UUID(str(payload["sid"])),
        jti=str(payload["jti"]),
        issued_at=int(payload["iat"]),
        expires_at=int(payload["exp"]),
    )
