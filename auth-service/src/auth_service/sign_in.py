"""POST /v1/auth/login, the throttled password check it shares with password change, and the
tokens every sign-in (login or refresh) hands out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from chat_runtime.logging import get_logger

from auth_service.attempts import login_keys
from auth_service.deps import Deps
from auth_service.domain import sessions as session_rules
from auth_service.domain.tokens import build_claims, build_header
from auth_service.domain.usernames import normalize_username
from auth_service.errors import InvalidCredentials
from auth_service.store import (
    ClientInfo,
    RefreshTokenRepository,
    SessionRepository,
    UserRecord,
    UserRepository,
)

log = get_logger("auth_service.sign_in")


@dataclass(frozen=True)
class SignedIn:
    user: UserRecord
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_max_age: int


async def check_password(deps: Deps, username: str, password: str, address: str) -> UserRecord:
    """Equal work whether or not the user exists: same counters, same lookup, one argon2
    verify."""
    keys = login_keys(username, address)
    await deps.throttle.count(deps.sessions, keys, deps.clock())
    async with deps.sessions() as s:
        user = await UserRepository(s).by_username(username)
    # A deleted account has no password hash: it costs the same dummy verify.
    stored = user.password_hash if user and user.password_hash else await deps.hasher.dummy_hash()
    ok, new_hash = await deps.hasher.verify_and_update(password, stored)
    # A deactivated account gets the generic failure (api-v1.1 C), after the same work.
    if user is None or not ok or user.deactivated or user.deleted:
        # Unknown names are not logged: people sometimes type a password in that field.
        log.info("login_failed", username=username if user else None, address=address)
        raise InvalidCredentials()
    async with deps.sessions.begin() as s:
        await deps.throttle.forgive(s, keys)
        if new_hash:
            # Parameters changed since this hash was made: upgrade it now we know the password.
            await UserRepository(s).set_password_hash(user.id, new_hash)
    return user


async def login(
    deps: Deps,
    username_raw: str,
    password: str,
    address: str,
    client: ClientInfo | None = None,
) -> SignedIn:
    user = await check_password(deps, normalize_username(username_raw), password, address)
    now = deps.now()
    session_id = uuid.uuid4()
    expires = now + timedelta(seconds=deps.settings.refresh_lifetime_s)
    token = session_rules.new_refresh_token()
    async with deps.sessions.begin() as s:
        # A deactivation racing this sign-in: the share lock waits for its commit (then the
        # account is refused), or makes it wait for ours (then it revokes this session too).
        current = await UserRepository(s).by_id(user.id, for_share=True)
        if current is None or current.deactivated or current.deleted:
            raise InvalidCredentials()
        await SessionRepository(s).create(session_id, user.id, now, expires, client=client)
        await RefreshTokenRepository(s).add(
            session_rules.hash_refresh_token(token), session_id, now
        )
    return signed_in(deps, user, session_id, token, expires)


def signed_in(
    deps: Deps, user: UserRecord, session_id: uuid.UUID, refresh: str, session_expires: datetime
) -> SignedIn:
    ttl = deps.settings.access_ttl_s
    deps.keyring.reload_if_changed()
    access = deps.keyring.sign(
        build_claims(user.id, session_id, now=deps.clock(), ttl_s=ttl),
        build_header(deps.keyring.signing_key.kid),
    )
    max_age = max(0, round((session_expires - deps.now()).total_seconds()))
    return SignedIn(user, access, ttl, refresh, max_age)
