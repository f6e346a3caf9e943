"""Access-token claims and header."""

from __future__ import annotations

import uuid

import pytest
from auth_service.domain.tokens import build_claims, build_header, claims_from_payload

pytestmark = pytest.mark.unit


def test_claims_have_every_required_field() -> None:
    uid, sid = uuid.uuid4(), uuid.uuid4()
    claims = build_claims(uid, sid, now=1000.7, ttl_s=900)
    assert claims["iss"] == "chat-auth"
    assert claims["aud"] == "chat"
    assert claims["sub"] == str(uid)
    assert claims["sid"] == str(sid)
    assert claims["iat"] == 1000
    assert claims["exp"] == 1900
    assert claims["jti"]
    assert build_claims(uid, sid, now=1000, ttl_s=900)["jti"] != claims["jti"]
    parsed = claims_from_payload(claims)
    assert parsed.user_id == uid
    assert parsed.session_id == sid


def test_header_names_type_and_key() -> None:
    assert build_header("k1") == {"typ": "at+jwt", "kid": "k1"}


def test_claims_with_bad_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="badly formed"):
        claims_from_payload({"sub": "x", "sid": "y", "jti": "j", "iat": 1, "exp": 2})
