"""Application service: the use cases of api-v1 §3, each one transaction (cosmicpython's
service layer). Routes call these; these call the pure domain, the repositories and the hasher.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chat_runtime.logging import get_logger
from chat_runtime.messaging import EXCHANGE_EVENTS
from chat_runtime.messaging.outbox import add_event
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.domain import sessions as session_rules
from auth_service.domain.passwords import password_errors
from auth_service.domain.sessions import RefreshAction, RefreshTokenState, RevokeReason
from auth_service.domain.throttle import CounterState, Limit, Scope
from auth_service.domain.tokens import AccessClaims, build_claims, build_header
from auth_service.domain.usernames import (
    RuleViolation,
    display_name_errors,
    normalize_display_name,
    normalize_username,
    username_errors,
)
from auth_service.hashing import PasswordHasher
from auth_service.keys import InvalidAccessToken, KeyRing
from auth_service.settings import AuthSettings
from auth_service.store import (
    RefreshTokenRepository,
    RevokedSession,
    SessionRepository,
    ThrottleRepository,
    UserRecord,
    UserRepository,
    outbox,
    pair_key,
)

USER_REGISTERED = "auth.user.registered.v1"
SESSION_REVOKED = "auth.session.revoked.v1"

Clock = Callable[[], float]

log = get_logger("auth_service.service")


# -- outcomes the routes turn into responses ----------------------------------------------------
class AuthError(Exception):
    """A refusal with a defined status; routes map it to a problem response."""


class ValidationFailed(AuthError):
    def __init__(self, errors: list[RuleViolation]) -> None:
        super().__init__("validation failed")
        self.errors = errors


class UsernameTaken(AuthError):
    pass


class InvalidCredentials(AuthError):
    pass


class WrongCurrentPassword(InvalidCredentials):
    pass


class TooManyAttempts(AuthError):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many attempts")
        self.retry_after_s = retry_after_s


class InvalidRefresh(AuthError):
    pass


class Unauthorized(AuthError):
    pass


@dataclass(frozen=True)
class SignedIn:
    user: UserRecord
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_max_age: int


# -- wire formats -------------------------------------------------------------------------------
def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_json(user: UserRecord) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.username,
        "display_name": user.display_name,
        "created_at": rfc3339(user.created_at),
    }


def revoked_json(revoked: RevokedSession, reason: str | None = None) -> dict[str, Any]:
    body = {
        "session_id": str(revoked.session_id),
        "user_id": str(revoked.user_id),
        "revoked_at": rfc3339(revoked.revoked_at),
    }
    if reason is not None:
        body["reason"] = reason
    return body


# -- successor box: the refresh token's successor, readable only with the token itself ---------
def _box_key(token: str) -> bytes:
    return hashlib.sha256(b"chat-refresh-successor\x00" + token.encode()).digest()


def seal_successor(token: str, successor: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_box_key(token)).encrypt(nonce, successor.encode(), None)


def open_successor(token: str, box: bytes) -> str | None:
    try:
        return AESGCM(_box_key(token)).decrypt(box[:12], box[12:], None).decode()
    except (InvalidTag, ValueError):
        return None


class AuthService:
    def __init__(
        self,
        settings: AuthSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: KeyRing,
        hasher: PasswordHasher,
        *,
        clock: Clock,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.hasher = hasher
        self.clock = clock
        # Wakes the outbox relay after a commit that added events.
        self.notify = notify
        window = float(settings.throttle_window_s)
        delays = {
            "base_delay_s": settings.throttle_base_delay_s,
            "max_delay_s": settings.throttle_max_delay_s,
        }
        self.limits: dict[Scope, Limit] = {
            Scope.PAIR: Limit(settings.login_pair_limit, window, **delays),
            Scope.USERNAME: Limit(settings.login_username_limit, window, **delays),
            Scope.ADDRESS: Limit(settings.login_address_limit, window, **delays),
            Scope.REGISTER: Limit(settings.register_address_limit, window, **delays),
        }

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- throttling ---------------------------------------------------------------------------
    async def _count_attempt(self, keys: list[tuple[Scope, str]]) -> None:
        """Count this attempt as a failure up front (undone on success), so a burst of parallel
        requests cannot all slip through before the first result is recorded. Raises
        TooManyAttempts when any key is blocked; the refused attempt still counts."""
        now = self.clock()
        async with self.sessionmaker.begin() as s:
            repo = ThrottleRepository(s)
            states = await repo.lock(keys)
            blocked = any(
                self.limits[scope].retry_after(self.limits[scope].current(st, now), now)
                for (scope, _), st in states.items()
            )
            retry = 0.0
            for (scope, key), state in states.items():
                limit = self.limits[scope]
                new = limit.record_failure(state, now)
                await repo.save(scope, key, new)
                retry = max(retry, limit.retry_after(new, now) or 0.0)
        if blocked:
            # Keys are usernames and addresses, never passwords.
            log.warning("attempt_throttled", address=keys[-1][1], retry_after_s=retry)
            raise TooManyAttempts(retry)

    async def _undo_attempt(self, s: AsyncSession, keys: list[tuple[Scope, str]]) -> None:
        """A success: the pair starts over, the wider counters forget this attempt."""
        repo = ThrottleRepository(s)
        states = await repo.lock(keys)
        for (scope, key), state in states.items():
            if scope is Scope.PAIR:
                await repo.reset(scope, key)
                continue
            count = max(0, state.count - 1)
            limit = self.limits[scope]
            blocked = state.blocked_until if count >= limit.limit else None
            await repo.save(scope, key, CounterState(state.window_start, count, blocked))

    def _login_keys(self, username: str, address: str) -> list[tuple[Scope, str]]:
        return [
            (Scope.PAIR, pair_key(username, address)),
            (Scope.USERNAME, username),
            (Scope.ADDRESS, address),
        ]

    # -- events -------------------------------------------------------------------------------
    async def _publish_revoked(
        self, s: AsyncSession, revoked: list[RevokedSession], reason: RevokeReason
    ) -> None:
        for r in revoked:
            await add_event(
                s,
                outbox,
                exchange=EXCHANGE_EVENTS,
                routing_key=SESSION_REVOKED,
                type_name=SESSION_REVOKED,
                body=revoked_json(r, reason.value),
            )

    # -- use cases ----------------------------------------------------------------------------
    async def register(
        self, username_raw: str, display_name_raw: str, password: str, address: str
    ) -> UserRecord:
        errors = [
            *username_errors(username_raw),
            *display_name_errors(display_name_raw),
            *password_errors(
                password,
                username_raw,
                other_inputs=(normalize_display_name(display_name_raw)[:64],),
            ),
        ]
        if errors:
            raise ValidationFailed(errors)
        # Every registration that gets this far costs a hash: limit them per address. They
        # count whether or not they succeed (nothing to undo, unlike a login).
        await self._count_attempt([(Scope.REGISTER, address)])
        password_hash = await self.hasher.hash(password)
        user = UserRecord(
            id=uuid.uuid4(),
            username=normalize_username(username_raw),
            display_name=normalize_display_name(display_name_raw),
            password_hash=password_hash,
            created_at=self._now(),
        )
        async with self.sessionmaker.begin() as s:
            if not await UserRepository(s).add(user):
                raise UsernameTaken()
            await add_event(
                s,
                outbox,
                exchange=EXCHANGE_EVENTS,
                routing_key=USER_REGISTERED,
                type_name=USER_REGISTERED,
                body={"user": user_json(user)},
            )
        self.notify()
        return user

    async def _check_password(self, username: str, password: str, address: str) -> UserRecord:
        """Throttled password check shared by login and password change. Equal work whether
        or not the user exists: same counters, same lookup, one argon2 verify."""
        keys = self._login_keys(username, address)
        await self._count_attempt(keys)
        async with self.sessionmaker() as s:
            user = await UserRepository(s).by_username(username)
        stored = user.password_hash if user else await self.hasher.dummy_hash()
        ok, new_hash = await self.hasher.verify_and_update(password, stored)
        if user is None or not ok:
            log.info(
                # Unknown names are not logged: people sometimes type a password in that field.
                "login_failed",
                username=username if user else None,
                address=address,
            )
            raise InvalidCredentials()
        async with self.sessionmaker.begin() as s:
            await self._undo_attempt(s, keys)
            if new_hash:
                # Parameters changed since this hash was made: upgrade it now we know the password.
                await UserRepository(s).set_password_hash(user.id, new_hash)
        return user

    async def login(self, username_raw: str, password: str, address: str) -> SignedIn:
        user = await self._check_password(normalize_username(username_raw), password, address)
        now = self._now()
        session_id = uuid.uuid4()
        expires = now + timedelta(seconds=self.settings.refresh_lifetime_s)
        token = session_rules.new_refresh_token()
        async with self.sessionmaker.begin() as s:
            await SessionRepository(s).create(session_id, user.id, now, expires)
            await RefreshTokenRepository(s).add(
                session_rules.hash_refresh_token(token), session_id, now
            )
        return self._signed_in(user, session_id, token, expires)

    def _signed_in(
        self, user: UserRecord, session_id: uuid.UUID, refresh: str, session_expires: datetime
    ) -> SignedIn:
        ttl = self.settings.access_ttl_s
        self.keyring.reload_if_changed()
        access = self.keyring.sign(
            build_claims(user.id, session_id, now=self.clock(), ttl_s=ttl),
            build_header(self.keyring.signing_key.kid),
        )
        max_age = max(0, round((session_expires - self._now()).total_seconds()))
        return SignedIn(user, access, ttl, refresh, max_age)

    async def refresh(self, token: str | None) -> SignedIn:
        if not token or len(token) > 256:
            raise InvalidRefresh()
        token_hash = session_rules.hash_refresh_token(token)
        now = self._now()
        grace = timedelta(seconds=self.settings.refresh_grace_s)
        reused = False
        async with self.sessionmaker.begin() as s:
            tokens = RefreshTokenRepository(s)
            record = await tokens.get_for_update(token_hash)
            state = (
                RefreshTokenState(
                    rotated_at=record.rotated_at,
                    successor_rotated=record.successor_rotated,
                    session_revoked=record.session_revoked,
                    session_expires_at=record.session_expires_at,
                )
                if record
                else None
            )
            action = session_rules.decide_refresh(state, now, grace)
            successor: str | None = None
            if record is not None and action is RefreshAction.ROTATE:
                successor = session_rules.new_refresh_token()
                successor_hash = session_rules.hash_refresh_token(successor)
                await tokens.add(successor_hash, record.session_id, now)
                await tokens.mark_rotated(
                    token_hash, successor_hash, seal_successor(token, successor), now
                )
            elif record is not None and action is RefreshAction.REPLAY_SUCCESSOR:
                successor = open_successor(token, record.successor_box or b"")
            elif record is not None and action is RefreshAction.REVOKE_SESSION:
                revoked = await SessionRepository(s).revoke(
                    record.session_id, RevokeReason.REFRESH_REUSE.value, now
                )
                if revoked:
                    await self._publish_revoked(s, [revoked], RevokeReason.REFRESH_REUSE)
                log.warning(
                    "refresh_token_reused",
                    session_id=str(record.session_id),
                    user_id=str(record.user_id),
                )
                reused = True
            user = await UserRepository(s).by_id(record.user_id) if record else None
        if reused:
            self.notify()
        if record is None or successor is None or user is None:
            raise InvalidRefresh()
        return self._signed_in(user, record.session_id, successor, record.session_expires_at)

    async def authenticate(self, token: str) -> AccessClaims:
        """Bearer check for auth-service's own endpoints: signature and claims here, and the
        session against the database (authoritative, unlike the 15-minute revocation window)."""
        try:
            self.keyring.reload_if_changed()
            claims = self.keyring.verify(token, now=self.clock())
        except InvalidAccessToken as exc:
            raise Unauthorized(exc.reason) from exc
        async with self.sessionmaker() as s:
            if not await SessionRepository(s).is_active(claims.session_id, self._now()):
                raise Unauthorized("session_revoked")
        return claims

    async def logout(self, refresh_token: str | None, bearer: str | None) -> None:
        """End one session (every tab shares it). Never fails: signing out twice is fine."""
        session_id: uuid.UUID | None = None
        if refresh_token and len(refresh_token) <= 256:
            async with self.sessionmaker() as s:
                session_id = await RefreshTokenRepository(s).session_of(
                    session_rules.hash_refresh_token(refresh_token)
                )
        if session_id is None and bearer:
            try:
                session_id = self.keyring.verify(bearer, now=self.clock()).session_id
            except InvalidAccessToken:
                session_id = None
        if session_id is None:
            return
        async with self.sessionmaker.begin() as s:
            revoked = await SessionRepository(s).revoke(
                session_id, RevokeReason.LOGOUT.value, self._now()
            )
            if revoked:
                await self._publish_revoked(s, [revoked], RevokeReason.LOGOUT)
        self.notify()

    async def logout_all(self, claims: AccessClaims) -> None:
        async with self.sessionmaker.begin() as s:
            revoked = await SessionRepository(s).revoke_all(
                claims.user_id, RevokeReason.LOGOUT_ALL.value, self._now()
            )
            await self._publish_revoked(s, revoked, RevokeReason.LOGOUT_ALL)
        self.notify()

    async def change_password(
        self, claims: AccessClaims, current: str, new: str, address: str
    ) -> None:
        async with self.sessionmaker() as s:
            user = await UserRepository(s).by_id(claims.user_id)
        if user is None:
            raise Unauthorized("user_gone")
        errors = password_errors(
            new, user.username, other_inputs=(user.display_name,), field="new_password"
        )
        if errors:
            raise ValidationFailed(errors)
        # The current password is guessed like a login: same throttles, so a stolen access
        # token cannot be used to brute-force it.
        try:
            await self._check_password(user.username, current, address)
        except InvalidCredentials as exc:
            raise WrongCurrentPassword() from exc
        new_hash = await self.hasher.hash(new)
        async with self.sessionmaker.begin() as s:
            now = self._now()
            await UserRepository(s).set_password_hash(user.id, new_hash, changed_at=now)
            revoked = await SessionRepository(s).revoke_all(
                user.id, RevokeReason.PASSWORD_CHANGED.value, now, except_session=claims.session_id
            )
            await self._publish_revoked(s, revoked, RevokeReason.PASSWORD_CHANGED)
        self.notify()

    async def me(self, claims: AccessClaims) -> UserRecord:
        async with self.sessionmaker() as s:
            user = await UserRepository(s).by_id(claims.user_id)
        if user is None:
            raise Unauthorized("user_gone")
        return user

    async def search(self, prefix: str, limit: int) -> list[UserRecord]:
        async with self.sessionmaker() as s:
            return await UserRepository(s).search_prefix(prefix, limit)

    async def lookup(self, ids: list[uuid.UUID]) -> list[UserRecord]:
        async with self.sessionmaker() as s:
            return await UserRepository(s).by_ids(ids)

    async def purge(self) -> tuple[int, int]:
        """Housekeeping: stale throttle counters and sessions expired for a day."""
        now = self._now()
        async with self.sessionmaker.begin() as s:
            counters = await ThrottleRepository(s).purge(now, self.settings.throttle_window_s)
            expired = await SessionRepository(s).purge_expired(now - timedelta(days=1))
        return counters, expired

    async def recently_revoked(self) -> list[RevokedSession]:
        since = self._now() - timedelta(seconds=self.settings.revocation_window_s)
        async with self.sessionmaker() as s:
            return await SessionRepository(s).revoked_since(since)
