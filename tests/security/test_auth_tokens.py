"""Forged, stale and misused access tokens are refused (QA-001): by auth-service itself and by
the shared verifier every other service uses (`chat_runtime.tokens.TokenVerifier`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from auth_service.keys import KeyRing
from chat_devtools.auth_harness import AuthHarness, FakeClock, auth_harness
from chat_runtime.tokens import InvalidToken, RevocationSet, TokenVerifier
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

pytestmark = [pytest.mark.security, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tok_h(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AuthHarness]:
    # Near the wall clock: PyJWT inside the shared verifier also checks iat against real time.
    async with auth_harness(tmp_path_factory.mktemp("keys"), clock=FakeClock(time.time())) as h:
        yield h


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def keyring(h: AuthHarness) -> KeyRing:
    ring: KeyRing = h.app.state.keyring
    return ring


def claims(h: AuthHarness, user_id: str, session_id: str, **over: Any) -> dict[str, Any]:
    assert h.clock is not None
    now = int(h.clock())
    base: dict[str, Any] = {
        "iss": "chat-auth",
        "aud": "chat",
        "sub": user_id,
        "sid": session_id,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 900,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def signed(h: AuthHarness, payload: dict[str, Any], **header: Any) -> str:
    ring = keyring(h)
    hdr = {"typ": "at+jwt", "kid": ring.signing_key.kid, **header}
    return jwt.encode(payload, ring.signing_key.private_key, algorithm="EdDSA", headers=hdr)


async def session_of(h: AuthHarness, username: str) -> tuple[str, str, str, str]:
    """(access token, user id, session id, refresh token) of a fresh sign-in."""
    await h.register(username)
    r = await h.login(username)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    payload = jwt.decode(token, options={"verify_signature": False})
    return token, payload["sub"], payload["sid"], r.cookies["chat_refresh"]


def forgeries(
    h: AuthHarness, user_id: str, session_id: str, good: str, refresh: str
) -> dict[str, str]:
    ring = keyring(h)
    kid = ring.signing_key.kid
    ok = claims(h, user_id, session_id)
    assert h.clock is not None
    now = int(h.clock())
    public_pem = ring.signing_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_header = b64json({"alg": "HS256", "typ": "at+jwt", "kid": kid})
    hs_body = b64json(ok)
    hs_sig = hmac.new(public_pem, f"{hs_header}.{hs_body}".encode(), hashlib.sha256).digest()
    rogue = Ed25519PrivateKey.generate()
    head, body, sig = good.split(".")
    tampered_payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    tampered_payload["sub"] = str(uuid.uuid4())
    return {
        "alg none": f"{b64json({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{b64json(ok)}.",
        "HS256 signed with the public key": f"{hs_header}.{hs_body}.{b64(hs_sig)}",
        "expired": signed(h, claims(h, user_id, session_id, iat=now - 2000, exp=now - 1000)),
        "not yet valid": signed(
            h, claims(h, user_id, session_id, iat=now + 600, nbf=now + 600, exp=now + 1500)
        ),
        "wrong aud": signed(h, claims(h, user_id, session_id, aud="other")),
        "wrong iss": signed(h, claims(h, user_id, session_id, iss="evil-auth")),
        "wrong typ": signed(h, ok, typ="JWT"),
        "missing sid": signed(h, claims(h, user_id, session_id, sid=None)),
        "missing exp": signed(h, claims(h, user_id, session_id, exp=None)),
        "unknown kid": jwt.encode(
            ok, rogue, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": "rogue"}
        ),
        "key not in JWKS, real kid": jwt.encode(
            ok, rogue, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": kid}
        ),
        "tampered payload": f"{head}.{b64json(tampered_payload)}.{sig}",
        "refresh token as bearer": refresh,
        "garbage": "not.a.jwt",
        "empty segments": "..",
    }


async def test_auth_service_refuses_every_forgery(tok_h: AuthHarness) -> None:
    good, user_id, session_id, refresh = await session_of(tok_h, "forged_target")
    ok = await tok_h.client.get("/v1/users/me", headers={"Authorization": f"Bearer {good}"})
    assert ok.status_code == 200
    for name, token in forgeries(tok_h, user_id, session_id, good, refresh).items():
        r = await tok_h.client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
        assert r.json()["code"] == "unauthorized", name
        assert r.headers["www-authenticate"].startswith("Bearer"), name
    for header in ({}, {"Authorization": "Bearer"}, {"Authorization": f"Basic {good}"}):
        r = await tok_h.client.get("/v1/users/me", headers=header)
        assert r.status_code == 401


async def test_shared_verifier_refuses_every_forgery(tok_h: AuthHarness) -> None:
    good, user_id, session_id, refresh = await session_of(tok_h, "verifier_target")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=tok_h.app), base_url="http://auth")
    assert tok_h.clock is not None
    verifier = TokenVerifier("http://auth/v1/auth/jwks", http=http, clock=tok_h.clock)
    try:
        assert (await verifier.verify(good)).session_id == session_id
        for name, token in forgeries(tok_h, user_id, session_id, good, refresh).items():
            try:
                await verifier.verify(token)
            except InvalidToken:
                continue
            pytest.fail(f"the shared verifier accepted: {name}")
    finally:
        await http.aclose()


async def test_token_of_logged_out_session_is_refused(tok_h: AuthHarness) -> None:
    good, _, session_id, _ = await session_of(tok_h, "logged_out")
    r = await tok_h.client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 204
    me = await tok_h.client.get("/v1/users/me", headers={"Authorization": f"Bearer {good}"})
    assert me.status_code == 401
    # A verifier told of the revocation (by the event or the start-up query) refuses it too.
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=tok_h.app), base_url="http://auth")
    assert tok_h.clock is not None
    revocations = RevocationSet(clock=tok_h.clock)
    revocations.add(session_id, tok_h.clock())
    verifier = TokenVerifier(
        "http://auth/v1/auth/jwks", http=http, clock=tok_h.clock, revocations=revocations
    )
    try:
        with pytest.raises(InvalidToken) as exc:
            await verifier.verify(good)
        assert exc.value.reason == "revoked"
    finally:
        await http.aclose()


async def test_expiry_follows_the_clock(tok_h: AuthHarness) -> None:
    good, *_ = await session_of(tok_h, "expiring")
    assert tok_h.clock is not None
    tok_h.clock.advance(899)
    me = await tok_h.client.get("/v1/users/me", headers={"Authorization": f"Bearer {good}"})
    assert me.status_code == 200
    tok_h.clock.advance(2)
    me = await tok_h.client.get("/v1/users/me", headers={"Authorization": f"Bearer {good}"})
    assert me.status_code == 401


async def test_rotation_signs_nobody_out(tok_h: AuthHarness) -> None:
    old_token, *_ = await session_of(tok_h, "rotation")
    ring = keyring(tok_h)
    old_kid = ring.signing_key.kid
    new_kid = ring.rotate()
    assert new_kid != old_kid
    jwks = (await tok_h.client.get("/v1/auth/jwks")).json()
    assert {old_kid, new_kid} <= {k["kid"] for k in jwks["keys"]}
    me = await tok_h.client.get("/v1/users/me", headers={"Authorization": f"Bearer {old_token}"})
    assert me.status_code == 200
    fresh = (await tok_h.login("rotation")).json()["access_token"]
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid


async def test_private_key_is_owner_only(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("ring") / "keys"
    ring = KeyRing(path)
    ring.load_or_create()
    key_file = path / f"{ring.signing_key.kid}.key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_mode & 0o777 == 0o700
    assert all("d" not in k for k in ring.jwks()["keys"])
