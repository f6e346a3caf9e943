import base64
import json
import time
import uuid
from typing import Annotated, Any

import httpx
import jwt
import pytest
from chat_contracts import types
from chat_runtime.http import create_app
from chat_runtime.messaging import Envelope
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.tokens import (
    ACCESS_TOKEN_LIFETIME_S,
    UNAVAILABLE_REASONS,
    VERIFY_LEEWAY_S,
    AccessClaims,
    InvalidToken,
    RevocationSet,
    TokenVerifier,
    bearer_claims,
    revocation_handler,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI

pytestmark = [pytest.mark.unit, pytest.mark.security]

NOW = 1_800_000_000.0
JWKS_URL = "http://auth.test/v1/auth/jwks"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Keys:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.kid = "k1"
        self.fetches = 0
        self.published: list[tuple[str, Ed25519PrivateKey]] = [(self.kid, self.private)]

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.published:
            jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"})
        return {"keys": keys}

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            assert str(request.url) == JWKS_URL
            self.fetches += 1
            return httpx.Response(200, json=self.jwks())

        return httpx.MockTransport(handler)

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def claims(**overrides: Any) -> dict[str, Any]:
    base = {
        "iss": "chat-auth",
        "aud": "chat",
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 890,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(keys: Keys, payload: dict[str, Any], **header: Any) -> str:
    headers = {"typ": "at+jwt", "kid": keys.kid, **header}
    return jwt.encode(payload, keys.private, algorithm="EdDSA", headers=headers)


@pytest.fixture
def rt_keys() -> Keys:
    return Keys()


@pytest.fixture
def rt_clock() -> Clock:
    return Clock()


@pytest.fixture
def rt_verifier(rt_keys: Keys, rt_clock: Clock) -> TokenVerifier:
    http = httpx.AsyncClient(transport=rt_keys.transport())
    return TokenVerifier(JWKS_URL, http=http, clock=rt_clock)


async def test_valid_token_gives_claims(rt_keys: Keys, rt_verifier: TokenVerifier) -> None:
    payload = claims()
    result = await rt_verifier.verify(sign(rt_keys, payload))
    assert result == AccessClaims(
        user_id=payload["sub"],
        session_id=payload["sid"],
        jti=payload["jti"],
        issued_at=payload["iat"],
        expires_at=payload["exp"],
    )
    await rt_verifier.verify(sign(rt_keys, claims()))
    assert rt_keys.fetches == 1  # cached


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_is_refused(rt_verifier: TokenVerifier) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': 'k1'})}.{b64(claims())}."
    with pytest.raises(InvalidToken) as err:
        await rt_verifier.verify(token)
    assert err.value.reason == "algorithm_not_allowed"


async def test_hs256_signed_with_the_public_key_is_refused(
    rt_keys: Keys, rt_verifier: TokenVerifier
) -> None:
    import hashlib
    import hmac

    header = b64({"alg": "HS256", "typ": "at+jwt", "kid": "k1"})
    body = b64(claims())
    signing_input = f"{header}.{body}".encode()
    for secret in (rt_keys.public_pem(), json.dumps(rt_keys.jwks()["keys"][0]).encode()):
        sig = hmac.new(secret, signing_input, hashlib.sha256).digest()
        token = f"{header}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
        with pytest.raises(InvalidToken):
            await rt_verifier.verify(token)


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="symmetric"):
        TokenVerifier(JWKS_URL, algorithms=("HS256",))
    with pytest.raises(ValueError, match="symmetric"):
        TokenVerifier(JWKS_URL, algorithms=("none",))


@pytest.mark.parametrize(
    ("payload", "header", "reason"),
    [
        (claims(exp=int(NOW) - 60), {}, "expired"),
        (claims(aud="other"), {}, "wrong_audience"),
        (claims(iss="evil"), {}, "wrong_issuer"),
        (claims(sid=None), {}, "missing_claim"),
        (claims(jti=None), {}, "missing_claim"),
        (claims(iat=int(NOW) + 600), {}, "not_yet_valid"),
        (claims(nbf=int(NOW) + 600), {}, "not_yet_valid"),
        (claims(exp="soon"), {}, "invalid"),
        (claims(), {"typ": "JWT"}, "wrong_type"),
        (claims(), {"kid": None}, "missing_kid"),
    ],
)
async def test_bad_claims_and_headers_are_refused(
    rt_keys: Keys,
    rt_verifier: TokenVerifier,
    payload: dict[str, Any],
    header: dict[str, Any],
    reason: str,
) -> None:
    extra = {k: v for k, v in header.items() if v is not None}
    token = sign(rt_keys, payload, **extra)
    if header.get("kid", "") is None:
        h = b64({"alg": "EdDSA", "typ": "at+jwt"})
        token = ".".join([h, *token.split(".")[1:]])
    with pytest.raises(InvalidToken) as err:
        await rt_verifier.verify(token)
    assert err.value.reason == reason


async def test_expiry_uses_the_injected_clock(
    rt_keys: Keys, rt_verifier: TokenVerifier, rt_clock: Clock
) -> None:
    token = sign(rt_keys, claims(iat=int(time.time()), exp=int(time.time()) + 900))
    rt_clock.now = time.time() + 3600
    with pytest.raises(InvalidToken) as err:
        await rt_verifier.verify(token)
    assert err.value.reason == "expired"


async def test_tampered_payload_is_refused(rt_keys: Keys, rt_verifier: TokenVerifier) -> None:
    token = sign(rt_keys, claims())
    header, _, sig = token.split(".")
    forged = f"{header}.{b64(claims(sub=str(uuid.uuid4())))}.{sig}"
    with pytest.raises(InvalidToken) as err:
        await rt_verifier.verify(forged)
    assert err.value.reason == "invalid"


async def test_unknown_kid_refetches_at_most_once_a_minute(
    rt_keys: Keys, rt_verifier: TokenVerifier, rt_clock: Clock
) -> None:
    await rt_verifier.verify(sign(rt_keys, claims()))
    assert rt_keys.fetches == 1
    stranger = Ed25519PrivateKey.generate()
    token = jwt.encode(
        claims(), stranger, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": "k2"}
    )
    for _ in range(5):
        with pytest.raises(InvalidToken) as err:
            await rt_verifier.verify(token)
        assert err.value.reason == "unknown_key"
    assert rt_keys.fetches == 1  # the first fetch was less than a minute ago
    # Key rotation: auth publishes k2; after a minute an unknown kid triggers one refetch.
    rt_keys.published.append(("k2", stranger))
    rt_clock.now += 61
    token = jwt.encode(
        claims(iat=int(rt_clock.now), exp=int(rt_clock.now) + 900),
        stranger,
        algorithm="EdDSA",
        headers={"typ": "at+jwt", "kid": "k2"},
    )
    assert (await rt_verifier.verify(token)).user_id
    assert rt_keys.fetches == 2


async def test_revoked_session_is_refused(rt_keys: Keys, rt_verifier: TokenVerifier) -> None:
    payload = claims()
    token = sign(rt_keys, payload)
    await rt_verifier.verify(token)
    heard: list[str] = []

    async def listener(session_id: str) -> None:
        heard.append(session_id)

    rt_verifier.revocations.listeners.append(listener)
    handler = revocation_handler(rt_verifier.revocations)
    await handler(
        Envelope(
            type_name="auth.session.revoked.v1",
            body=types.AuthSessionRevokedV1(
                session_id=payload["sid"],
                user_id=payload["sub"],
                revoked_at="2027-01-15T08:00:00Z",
                reason="logout",
            ),
            message_id="m",
            correlation_id="c",
            headers={},
            routing_key="auth.session.revoked.v1",
        )
    )
    assert heard == [payload["sid"]]
    with pytest.raises(InvalidToken) as err:
        await rt_verifier.verify(token)
    assert err.value.reason == "revoked"


async def test_a_set_that_is_not_current_refuses_every_token_as_unavailable(
    rt_keys: Keys, rt_clock: Clock
) -> None:
    """Fails closed: before revocations are loaded, and after the broker link dropped until they
    are loaded again, a token cannot be checked against them and is refused as unavailable."""
    revocations = RevocationSet(clock=rt_clock, current=False)
    verifier = TokenVerifier(
        JWKS_URL,
        http=httpx.AsyncClient(transport=rt_keys.transport()),
        clock=rt_clock,
        revocations=revocations,
    )
    token = sign(rt_keys, claims())
    with pytest.raises(InvalidToken) as err:
        await verifier.verify(token)
    assert err.value.reason == "revocations_unavailable"
    assert err.value.reason in UNAVAILABLE_REASONS
    revocations.mark_current()
    await verifier.verify(token)
    revocations.mark_stale()
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


def test_revocations_are_kept_until_the_last_token_could_expire() -> None:
    """A token issued just before the revocation is accepted until exp + leeway."""
    clock = Clock()
    revocations = RevocationSet(clock=clock)
    revocations.add("s1", NOW)
    clock.now = NOW + ACCESS_TOKEN_LIFETIME_S + VERIFY_LEEWAY_S - 1
    assert revocations.is_revoked("s1")
    clock.now = NOW + ACCESS_TOKEN_LIFETIME_S + VERIFY_LEEWAY_S + 1
    assert not revocations.is_revoked("s1")


async def test_bearer_dependency_answers_503_while_revocations_are_not_current(
    rt_keys: Keys, rt_clock: Clock
) -> None:
    app: FastAPI = create_app(BaseServiceSettings(), title="t")
    app.state.verifier = TokenVerifier(
        JWKS_URL,
        http=httpx.AsyncClient(transport=rt_keys.transport()),
        clock=rt_clock,
        revocations=RevocationSet(clock=rt_clock, current=False),
    )
    CurrentUser = Annotated[AccessClaims, Depends(bearer_claims(lambda r: r.app.state.verifier))]

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"id": user.user_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/me", headers={"Authorization": f"Bearer {sign(rt_keys, claims())}"})
    assert r.status_code == 503
    assert r.json()["code"] == "unavailable"
    assert r.headers["retry-after"] == "1"


def test_revocations_expire_after_the_window() -> None:
    clock = Clock()
    revocations = RevocationSet(window_s=900, clock=clock)
    revocations.add("s1", NOW)
    assert revocations.is_revoked("s1")
    clock.now += 901
    assert not revocations.is_revoked("s1")
    assert not revocations.add("old", NOW - 1000)  # already outside the window
    assert len(revocations) == 0


async def test_bearer_dependency_answers_401_problem(
    rt_keys: Keys, rt_verifier: TokenVerifier
) -> None:
    app: FastAPI = create_app(BaseServiceSettings(), title="t")
    app.state.verifier = rt_verifier
    CurrentUser = Annotated[AccessClaims, Depends(bearer_claims(lambda r: r.app.state.verifier))]

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"id": user.user_id}

    payload = claims()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.get("/me", headers={"Authorization": f"Bearer {sign(rt_keys, payload)}"})
        assert ok.json() == {"id": payload["sub"]}
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            r = await client.get("/me", headers=headers)
            assert r.status_code == 401
            assert r.json()["code"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.headers["content-type"] == "application/problem+json"


async def test_jwks_outage_is_retried_after_seconds_not_a_minute(
    rt_keys: Keys, rt_clock: Clock
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(503)
        return httpx.Response(200, json=rt_keys.jwks())

    verifier = TokenVerifier(
        JWKS_URL, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)), clock=rt_clock
    )
    token = sign(rt_keys, claims())
    with pytest.raises(InvalidToken) as err:
        await verifier.verify(token)
    assert err.value.reason == "keys_unavailable"
    with pytest.raises(InvalidToken):
        await verifier.verify(token)  # within the retry pause: no new request
    assert calls == 1
    rt_clock.now += 6
    assert (await verifier.verify(token)).session_id
    assert calls == 2


async def test_es256_can_be_pinned_instead_and_then_eddsa_is_refused(
    rt_keys: Keys, rt_clock: Clock
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwks = {"keys": [{**ec_jwk, "kid": "e1", "alg": "ES256"}, *rt_keys.jwks()["keys"]]}
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json=jwks))
    )
    verifier = TokenVerifier(JWKS_URL, algorithms=("ES256",), http=http, clock=rt_clock)
    payload = claims()
    token = jwt.encode(payload, ec_key, algorithm="ES256", headers={"typ": "at+jwt", "kid": "e1"})
    assert (await verifier.verify(token)).user_id == payload["sub"]
    with pytest.raises(InvalidToken) as err:
        await verifier.verify(sign(rt_keys, claims()))
    assert err.value.reason == "algorithm_not_allowed"
    # An ES256 header naming the Ed25519 key is refused too (key type must match the algorithm).
    forged = jwt.encode(payload, ec_key, algorithm="ES256", headers={"typ": "at+jwt", "kid": "k1"})
    with pytest.raises(InvalidToken):
        await verifier.verify(forged)


async def test_keys_are_fetched_again_after_their_max_age_and_a_dropped_key_stops_verifying(
    rt_keys: Keys, rt_verifier: TokenVerifier, rt_clock: Clock
) -> None:
    """A rotation drops old keys from the JWKS (issue #22): verifiers must not keep them."""
    from chat_runtime.tokens import JWKS_MAX_AGE_S

    await rt_verifier.verify(sign(rt_keys, claims()))
    assert rt_keys.fetches == 1
    rt_clock.now += JWKS_MAX_AGE_S - 1
    await rt_verifier.verify(sign(rt_keys, claims(exp=int(rt_clock.now) + 60)))
    assert rt_keys.fetches == 1  # still fresh
    newer = Ed25519PrivateKey.generate()
    rt_keys.published = [("k2", newer)]  # k1 rotated out
    rt_clock.now += 2
    with pytest.raises(InvalidToken) as err:
        await rt_verifier.verify(sign(rt_keys, claims(exp=int(rt_clock.now) + 60)))
    assert err.value.reason == "unknown_key"
    assert rt_keys.fetches == 2


async def test_a_failed_refresh_keeps_the_keys_it_has(rt_keys: Keys, rt_clock: Clock) -> None:
    from chat_runtime.tokens import JWKS_MAX_AGE_S

    up = True

    def handler(request: httpx.Request) -> httpx.Response:
        rt_keys.fetches += 1
        return httpx.Response(200, json=rt_keys.jwks()) if up else httpx.Response(503)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    verifier = TokenVerifier(JWKS_URL, http=http, clock=rt_clock)
    await verifier.verify(sign(rt_keys, claims()))
    up = False
    rt_clock.now += JWKS_MAX_AGE_S + 1
    assert (await verifier.verify(sign(rt_keys, claims(exp=int(rt_clock.now) + 60)))).user_id
    assert rt_keys.fetches == 2
    await verifier.verify(sign(rt_keys, claims(exp=int(rt_clock.now) + 60)))
    assert rt_keys.fetches == 2  # not again at once
