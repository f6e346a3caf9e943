"""Access-token verification (JWKS over HTTP, pinned algorithm) and session revocations."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from chat_contracts import names, types
from fastapi import Request

from chat_runtime.http import Problem
from chat_runtime.logging import get_logger, security_event

if TYPE_CHECKING:
    from chat_runtime.messaging.broker import Broker
    from chat_runtime.messaging.envelope import Envelope

log = get_logger("chat_runtime.tokens")

TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JWT typ, not a secret
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "sid", "jti")
JWKS_REFETCH_MIN_S = 60.0
JWKS_RETRY_AFTER_FAILURE_S = 5.0
# Keys older than this are fetched again (auth-service's own Cache-Control max-age): a key that a
# rotation dropped stops being accepted, whatever kids tokens carry.
JWKS_MAX_AGE_S = 300.0
ACCESS_TOKEN_LIFETIME_S = 900.0  # api-v1 §3: access tokens live 15 minutes
VERIFY_LEEWAY_S = 5.0
# A token issued just before its session was revoked stays acceptable until its exp + leeway; the
# revocation must be remembered at least that long.
REVOCATION_WINDOW_S = ACCESS_TOKEN_LIFETIME_S + VERIFY_LEEWAY_S
# Reasons that say nothing about the token itself: callers answer "unavailable, retry", never
# "unauthorized" (which would sign a client out).
UNAVAILABLE_REASONS = frozenset({"keys_unavailable", "revocations_unavailable"})


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    jti: str
    issued_at: int
    expires_at: int


class InvalidToken(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _to_epoch(value: datetime | float | int | str) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


RevocationListener = Callable[[str], Awaitable[None] | None]


class RevocationSet:
    """Sessions revoked within the window (an access token lives at most that long).

    `current` says whether the set can be trusted: a set fed by events is current only once the
    recent past has been loaded from auth-service, and stops being current when the broker link
    drops (events may be missed) until it is loaded again. Verifiers refuse tokens meanwhile: the
    set fails closed. A set nobody feeds (`current=True`) is for verifiers without revocations.
    """

    def __init__(
        self,
        window_s: float = REVOCATION_WINDOW_S,
        clock: Callable[[], float] = time.time,
        *,
        current: bool = True,
    ) -> None:
        self.window_s = window_s
        self.clock = clock
        self.current = current
        self._revoked: dict[str, float] = {}
        self.listeners: list[RevocationListener] = []

    def mark_stale(self) -> None:
        """Events may have been missed (broker link lost): refuse tokens until reloaded."""
        self.current = False

    def mark_current(self) -> None:
        self.current = True

    def add(self, session_id: str, revoked_at: datetime | float | int | str | None = None) -> bool:
        """Record a revocation; returns True when it is new (listeners are told by `revoke`)."""
        at = self.clock() if revoked_at is None else _to_epoch(revoked_at)
        if self.clock() - at > self.window_s:
            return False
        new = session_id not in self._revoked
        self._revoked[session_id] = max(at, self._revoked.get(session_id, at))
        return new

    async def revoke(
        self, session_id: str, revoked_at: datetime | float | int | str | None = None
    ) -> None:
        """Record and tell the listeners (gateways close the session's sockets)."""
        self.add(session_id, revoked_at)
        for listener in list(self.listeners):
            try:
                result = listener(session_id)
                if result is not None:
                    await result
            except Exception:
                log.exception("revocation_listener_failed", session_id=session_id)

    def is_revoked(self, session_id: str) -> bool:
        self._prune()
        return session_id in self._revoked

    def __len__(self) -> int:
        self._prune()
        return len(self._revoked)

    def _prune(self) -> None:
        cutoff = self.clock() - self.window_s
        for sid in [s for s, at in self._revoked.items() if at < cutoff]:
            del self._revoked[sid]


async def load_revocations(
    broker: Broker,
    revocations: RevocationSet,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - passed on to broker.request
) -> int:
    """Ask auth-service for recently revoked sessions; the set is current afterwards. Returns
    how many were revoked. Raises (RequestTimeout, ...) when auth-service does not answer."""
    reply = await broker.request(
        names.AUTH_QUERY_QUEUE,
        types.AuthRevocationsQueryV1(),
        reply_type=types.AuthRevocationsReplyV1,
        timeout=timeout,
    )
    for item in reply.sessions:
        revocations.add(item.session_id, item.revoked_at)
    revocations.mark_current()
    return len(reply.sessions)


def revocation_handler(
    revocations: RevocationSet,
) -> Callable[[Envelope[types.AuthSessionRevokedV1]], Awaitable[None]]:
    """Consumer handler for `auth.session.revoked.v1`."""

    async def handle(envelope: Envelope[types.AuthSessionRevokedV1]) -> None:
        await revocations.revoke(envelope.body.session_id, envelope.body.revoked_at)

    return handle


class TokenVerifier:
    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str = "chat-auth",
        audience: str = "chat",
        algorithms: tuple[str, ...] = ("EdDSA",),
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        revocations: RevocationSet | None = None,
        leeway_s: float = VERIFY_LEEWAY_S,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        bad = {a for a in algorithms if a.lower() == "none" or a.upper().startswith("HS")}
        if bad or not algorithms:
            raise ValueError(f"refusing symmetric or empty algorithms: {sorted(bad)}")
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.clock = clock
        # Without a set of its own to follow, nothing feeds revocations: an empty, current one.
        self.revocations = revocations if revocations is not None else RevocationSet(clock=clock)
        self.leeway_s = leeway_s
        # How an https:// JWKS URL's server is checked (its own client only): a context trusting
        # the CHAT_JWKS_CA_FILE bundle, or True for the system's CAs.
        self.tls_verify = verify
        self._http = http
        self._own_http = http is None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def refresh_keys(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=5.0, verify=self.tls_verify)
        self._fetched_at = self.clock()
        response = await self._http.get(self.jwks_url)
        response.raise_for_status()
        keys: dict[str, jwt.PyJWK] = {}
        for jwk in response.json().get("keys", []):
            kid = jwk.get("kid")
            if not kid:
                continue
            try:
                keys[kid] = jwt.PyJWK(jwk)
            except jwt.PyJWTError:
                log.warning("jwks_key_skipped", kid=kid)
        self._keys = keys

    def _stale(self) -> bool:
        return self._fetched_at is not None and self.clock() - self._fetched_at >= JWKS_MAX_AGE_S

    async def _refresh_stale(self) -> None:
        """Fetch keys older than JWKS_MAX_AGE_S again; on failure keep them a little longer."""
        async with self._lock:
            if not self._stale():
                return
            try:
                await self.refresh_keys()
            except (httpx.HTTPError, ValueError) as exc:
                self._fetched_at = self.clock() - JWKS_MAX_AGE_S + JWKS_RETRY_AFTER_FAILURE_S
                log.warning("jwks_refresh_failed", error=repr(exc))

    async def _key(self, kid: str) -> jwt.PyJWK:
        if self._stale():
            await self._refresh_stale()
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            # Unknown kid: refetch, but at most once a minute (no JWKS-fetch amplification).
            if self._fetched_at is None or self.clock() - self._fetched_at >= JWKS_REFETCH_MIN_S:
                try:
                    await self.refresh_keys()
                except (httpx.HTTPError, ValueError) as exc:
                    # auth-service may still be starting: allow the next try sooner than a minute.
                    self._fetched_at = (
                        self.clock() - JWKS_REFETCH_MIN_S + JWKS_RETRY_AFTER_FAILURE_S
                    )
                    log.warning("jwks_fetch_failed", error=repr(exc))
                    raise InvalidToken("keys_unavailable") from exc
            key = self._keys.get(kid)
            if key is None:
                raise InvalidToken("unknown_key")
            return key

    async def verify(self, token: str) -> AccessClaims:
        """The token's claims, or InvalidToken; every refusal of the token itself leaves a
        `token_refused` security line with its reason (never the token)."""
        try:
            return await self._verify(token)
        except InvalidToken as exc:
            if exc.reason not in UNAVAILABLE_REASONS:
                security_event("token_refused", reason=exc.reason)
            raise

    async def _verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed") from exc
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise InvalidToken("algorithm_not_allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("wrong_type")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("missing_kid")
        key = await self._key(kid)
        if key.algorithm_name != alg:
            raise InvalidToken("algorithm_not_allowed")  # key type must match the pinned alg
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                # Time claims are checked below against the injected clock (testable, one source).
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("wrong_audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("wrong_issuer") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken("missing_claim") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid") from exc
        now = self.clock()
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
        for value in (exp, iat, nbf):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidToken("invalid")
        if exp + self.leeway_s <= now:
            raise InvalidToken("expired")
        if iat - self.leeway_s > now or nbf - self.leeway_s > now:
            raise InvalidToken("not_yet_valid")
        for name in ("sub", "sid", "jti"):
            if not isinstance(claims[name], str) or not claims[name]:
                raise InvalidToken("missing_claim")
        if not self.revocations.current:
            raise InvalidToken("revocations_unavailable")
        if self.revocations.is_revoked(claims["sid"]):
            raise InvalidToken("revoked")
        return AccessClaims(
            user_id=claims["sub"],
            session_id=claims["sid"],
            jti=claims["jti"],
            issued_at=int(iat),
            expires_at=int(exp),
        )


def unauthorized(
    detail: str = "Sign in to continue: the access token is missing or not valid.",
) -> Problem:
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_claims(
    verifier_getter: Callable[[Request], TokenVerifier],
) -> Callable[[Request], Awaitable[AccessClaims]]:
    """FastAPI dependency factory: `CurrentUser = Annotated[AccessClaims, Depends(bearer_claims(
    lambda request: request.app.state.verifier))]`."""

    async def dependency(request: Request) -> AccessClaims:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        try:
            return await verifier_getter(request).verify(token.strip())
        except InvalidToken as exc:
            if exc.reason in UNAVAILABLE_REASONS:
                raise Problem(
                    503,
                    "unavailable",
                    "Signing in cannot be checked right now; try again in a moment.",
                    headers={"Retry-After": "1"},
                ) from exc
            raise unauthorized() from exc

    return dependency
