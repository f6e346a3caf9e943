"""Every token verifier behind the edge refuses forged, stale and revoked access tokens (QA-001;
api-v1 §3, §6): message-service, presence-service and file-service REST and the gateway WebSocket.

Forgeries are built from a real token's claims: signed by a key that is not in the JWKS (with the
real kid and with an unknown one), `alg: none`, HS256 keyed with the published public key
(HS/EdDSA confusion). Where the stack's signing key is readable (a chat_devtools stack keeps it
in var/keys), tokens signed by the real key but expired, with the wrong `typ`, `aud`, `iss`, or
without `sid`/`exp`. After logout, an open socket of that session is
closed with 4401 within 1 s and its access token gets 401 everywhere; the user's other session
is untouched.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    Edge,
    User,
    assert_problem,
    authenticated_socket,
    connect_socket,
    open_edge,
    unverified_claims,
)
from tests.support.fixtures import auth_keys_dir, resolve_edge_url  # noqa: E402

pytestmark = [
    pytest.mark.security,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(120),
]

REVOCATION_DEADLINE_S = 1.0
CLOSE_UNAUTHORIZED = 4401
# One authenticated endpoint per HTTP service behind the edge.
REST_PROBES = {
    "auth-service": "/v1/users/me",
    "message-service": "/v1/rooms",
    "presence-service": "/v1/presence",
    "file-service": "/v1/files?ids=00000000-0000-4000-8000-000000000000",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64json(header)}.{b64json(claims)}.{b64(signature)}"


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    # Built by hand: PyJWT itself refuses an HMAC secret that looks like a public key.
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


@pytest.fixture(scope="module")
def tok_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tok_edge(tok_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(tok_edge_url) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tok_user(tok_edge: Edge) -> User:
    return (await tok_edge.pooled_users(1))[0]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def jwks(tok_edge: Edge) -> dict[str, Any]:
    r = await tok_edge.http.get("/v1/auth/jwks")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["keys"], "the JWKS publishes no key"
    for key in body["keys"]:
        assert "d" not in key, "the JWKS leaks a private key"
    return body


def signing_jwk(jwks: dict[str, Any], token: str) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    for key in jwks["keys"]:
        if key["kid"] == kid:
            found: dict[str, Any] = key
            return found
    raise AssertionError(f"the token's kid {kid!r} is not in the JWKS")


def fresh_claims(user: User) -> dict[str, Any]:
    """The real token's claims with a new jti and fresh times: only the signature is wrong."""
    claims = unverified_claims(user.token)
    now = int(time.time())
    claims.update(jti=uuid.uuid4().hex, iat=now, exp=now + 600)
    return claims


def forge(kind: str, user: User, jwks: dict[str, Any]) -> str:
    header = jwt.get_unverified_header(user.token)
    assert header.get("alg") in ("EdDSA", "ES256"), header
    assert header.get("typ") == "at+jwt", header
    claims = fresh_claims(user)
    jwk = signing_jwk(jwks, user.token)
    if kind == "foreign_key_real_kid":
        return jwt.encode(claims, Ed25519PrivateKey.generate(), "EdDSA", headers=header)
    if kind == "foreign_key_unknown_kid":
        return jwt.encode(
            claims, Ed25519PrivateKey.generate(), "EdDSA", headers={**header, "kid": "attacker"}
        )
    if kind == "alg_none":
        return unsigned({**header, "alg": "none"}, claims)
    if kind == "alg_none_signed":
        # `none` with a leftover signature: some libraries only check the signature is empty.
        return unsigned({**header, "alg": "none"}, claims, b"\x00" * 64)
    if kind.startswith("hs256_"):
        public = Ed25519PublicKey.from_public_bytes(
            base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        )
        secrets = {
            "hs256_raw_public_key": public.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            ),
            "hs256_pem_public_key": public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "hs256_jwk_json": json.dumps(jwk, separators=(",", ":")).encode(),
            "hs256_jwk_x": jwk["x"].encode(),
        }
        return hs256({**header, "alg": "HS256"}, claims, secrets[kind])
    raise AssertionError(kind)


FORGERIES = [
    "foreign_key_real_kid",
    "foreign_key_unknown_kid",
    "alg_none",
    "alg_none_signed",
    "hs256_raw_public_key",
    "hs256_pem_public_key",
    "hs256_jwk_json",
    "hs256_jwk_x",
]


async def assert_rest_refuses(edge: Edge, token: str, why: str) -> None:
    for service, path in REST_PROBES.items():
        r = await edge.http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, f"{service} accepted a {why} token: {r.status_code} {r.text}"
        assert_problem(r, 401)


async def assert_socket_refuses(edge: Edge, token: str, why: str) -> None:
    socket = await connect_socket(edge.ws_url)
    try:
        await socket.send({"type": "auth", "token": token})
        code = await socket.wait_closed(10.0)
        assert code == CLOSE_UNAUTHORIZED, f"gateway closed a {why} token's socket with {code}"
        assert not socket.of_type("ready"), f"gateway sent ready for a {why} token"
        errors = socket.of_type("error")
        assert errors, f"no error frame before the close ({why})"
        assert errors[0]["code"] == "unauthorized"
    finally:
        await socket.close()


async def test_the_real_token_is_accepted_everywhere(tok_edge: Edge, tok_user: User) -> None:
    # The control: without it, every refusal below could just be a broken route.
    for service, path in REST_PROBES.items():
        r = await tok_user.get(path)
        assert r.status_code == 200, f"{service}: {r.status_code} {r.text}"
    async with tok_user.socket() as socket:
        assert socket.ready["user_id"] == tok_user.id
        assert socket.ready["session_id"] == tok_user.session_id


@pytest.mark.parametrize("kind", FORGERIES)
async def test_forged_tokens_are_refused_everywhere(
    kind: str, tok_edge: Edge, tok_user: User, jwks: dict[str, Any]
) -> None:
    token = forge(kind, tok_user, jwks)
    await assert_rest_refuses(tok_edge, token, kind)
    await assert_socket_refuses(tok_edge, token, kind)


@pytest.fixture(scope="module")
def real_key(jwks: dict[str, Any], tok_user: User) -> Ed25519PrivateKey:
    """The stack's own signing key, to make tokens that are valid except for one claim."""
    jwk = signing_jwk(jwks, tok_user.token)
    pem = auth_keys_dir() / f"{jwk['kid']}.key.pem"
    if not pem.is_file():
        pytest.skip(f"the stack's signing key is not readable here ({pem}); cannot sign")
    private = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    return private


def signed(user: User, key: Ed25519PrivateKey, header: dict[str, Any], **claims: Any) -> str:
    now = int(time.time())
    body = {**unverified_claims(user.token), "jti": uuid.uuid4().hex, "iat": now, "exp": now + 600}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(
        body, key, "EdDSA", headers={**jwt.get_unverified_header(user.token), **header}
    )


async def test_a_token_signed_here_by_the_real_key_is_accepted(
    tok_edge: Edge, tok_user: User, real_key: Ed25519PrivateKey
) -> None:
    # The control for the claim checks below: only the one changed claim makes them fail.
    token = signed(tok_user, real_key, {})
    for service, path in REST_PROBES.items():
        r = await tok_edge.http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, f"{service} refused a validly signed token: {r.text}"


BAD_CLAIMS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "expired": ({}, {}),  # times are set when the test runs
    "typ_jwt": ({"typ": "JWT"}, {}),
    "typ_refresh": ({"typ": "refresh+jwt"}, {}),
    "other_audience": ({}, {"aud": "somebody-else"}),
    "other_issuer": ({}, {"iss": "chat-evil"}),
    "no_session_id": ({}, {"sid": None}),
    "no_exp": ({}, {"exp": None}),
}


@pytest.mark.parametrize("case", sorted(BAD_CLAIMS))
async def test_really_signed_tokens_with_a_bad_claim_are_refused(
    case: str, tok_edge: Edge, tok_user: User, real_key: Ed25519PrivateKey
) -> None:
    header, claims = BAD_CLAIMS[case]
    if case == "expired":
        # Two minutes ago: beyond any reasonable clock leeway.
        now = int(time.time())
        claims = {"iat": now - 1020, "exp": now - 120}
    token = signed(tok_user, real_key, header, **claims)
    await assert_rest_refuses(tok_edge, token, case)
    await assert_socket_refuses(tok_edge, token, case)


async def test_a_socket_whose_token_expires_unrefreshed_is_closed(
    tok_edge: Edge, tok_user: User, real_key: Ed25519PrivateKey
) -> None:
    now = int(time.time())
    short = signed(tok_user, real_key, {}, iat=now, exp=now + 3)
    long = signed(tok_user, real_key, {}, iat=now, exp=now + 600)
    expiring = await authenticated_socket(tok_edge.ws_url, short)
    refreshed = await authenticated_socket(tok_edge.ws_url, short)
    try:
        await refreshed.send({"type": "auth.refresh", "token": long})
        code = await expiring.wait_closed(10.0)
        assert code == CLOSE_UNAUTHORIZED, f"expired socket closed with {code}"
        assert expiring.closed_at is not None
        assert time.time() >= now + 3 - 0.5, "closed before the token expired"
        # The socket that sent a fresh token in time stays open.
        await refreshed.send({"type": "ping"})
        await refreshed.wait_for("pong", timeout=5.0)
        assert not refreshed.closed
    finally:
        await asyncio.gather(expiring.close(), refreshed.close(), return_exceptions=True)


async def test_logout_closes_the_sessions_sockets_and_refuses_its_token(tok_edge: Edge) -> None:
    # A pooled user's own session stays; a new login of the same user is the one ended.
    other_session = (await tok_edge.pooled_users(1))[0]
    user = User(tok_edge, other_session.id, other_session.username, "", other_session.password)
    ended_token = await tok_edge.login(user)
    assert other_session.session_id != user.session_id

    ended = await authenticated_socket(tok_edge.ws_url, ended_token)
    ended_tab2 = await authenticated_socket(tok_edge.ws_url, ended_token)
    kept = await authenticated_socket(tok_edge.ws_url, other_session.token)
    try:
        r = await tok_edge.logout(ended_token)
        logged_out_at = time.monotonic()
        assert r.status_code == 204, f"logout: {r.status_code} {r.text}"

        # Every tab of that session: closed with 4401 within 1 s.
        for socket in (ended, ended_tab2):
            code = await socket.wait_closed(REVOCATION_DEADLINE_S + 4.0)
            assert code == CLOSE_UNAUTHORIZED, f"closed with {code}, wanted 4401"
            assert socket.closed_at is not None
            took = socket.closed_at - logged_out_at
            assert took <= REVOCATION_DEADLINE_S, f"socket closed {took:.2f}s after logout"

        # New REST calls with the ended session's token: 401 on every service within 1 s.
        deadline = logged_out_at + REVOCATION_DEADLINE_S
        for service, path in REST_PROBES.items():
            while True:
                r = await tok_edge.http.get(
                    path, headers={"Authorization": f"Bearer {ended_token}"}
                )
                if r.status_code == 401:
                    assert_problem(r, 401)
                    break
                assert time.monotonic() < deadline, (
                    f"{service} still accepts the logged-out token: {r.status_code}"
                )
                await asyncio.sleep(0.05)
        await assert_socket_refuses(tok_edge, ended_token, "logged-out")

        # The user's other session is not affected.
        await kept.send({"type": "ping"})
        await kept.wait_for("pong", timeout=5.0)
        assert not kept.closed
        for service, path in REST_PROBES.items():
            r = await other_session.get(path)
            assert r.status_code == 200, f"{service} refused the other session: {r.text}"
    finally:
        await asyncio.gather(
            *(s.close() for s in (ended, ended_tab2, kept)), return_exceptions=True
        )


async def test_logout_all_ends_every_session(tok_edge: Edge) -> None:
    user = await tok_edge.register("tok_all")
    await tok_edge.login(user)
    second = User(tok_edge, user.id, user.username, user.display_name, user.password)
    await tok_edge.login(second)
    sockets = [
        await authenticated_socket(tok_edge.ws_url, user.token),
        await authenticated_socket(tok_edge.ws_url, second.token),
    ]
    try:
        r = await user.post("/v1/auth/logout-all", headers={"Content-Type": "application/json"})
        assert r.status_code == 204, f"logout-all: {r.status_code} {r.text}"
        for socket in sockets:
            assert await socket.wait_closed(REVOCATION_DEADLINE_S + 4.0) == CLOSE_UNAUTHORIZED
        for token in (user.token, second.token):
            deadline = time.monotonic() + REVOCATION_DEADLINE_S
            while True:
                r = await tok_edge.http.get(
                    "/v1/rooms", headers={"Authorization": f"Bearer {token}"}
                )
                if r.status_code == 401:
                    break
                assert time.monotonic() < deadline, "a session survived logout-all"
                await asyncio.sleep(0.05)
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
