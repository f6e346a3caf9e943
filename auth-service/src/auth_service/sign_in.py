"""POST /v1/auth/login, the throttled password check it shares with password change, and the
tokens every sign-in (login or refresh) hands out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chat_runtime.logging import security_event

from auth_service.attempts import device_keys, login_keys
from auth_service.deps import Deps
from auth_service.domain import sessions as session_rules
from auth_service.domain.tokens import build_claims, build_header
from auth_service.domain.usernames import normalize_username
from auth_service.errors import InvalidCredentials
from auth_service.store import (
    ClientInfo,
    KnownDeviceRepository,
    RefreshTokenRepository,
    SessionRepository,
    UserRecord,
    UserRepository,
)


@dataclass(frozen=True)
class SignedIn:
    user: UserRecord
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_max_age: int
    # The known-device cookie (api-v1.1 F) to set: the one presented when it was valid for this
    # user (its lifetime starts again), else a new one.
    device_token: str | None = None


def device_hash(token: str | None) -> bytes | None:
    """The stored form of a `chat_device` cookie; None for an absent or absurd value."""
    if not token or len(token) > 256:
        return None
    return session_rules.hash_refresh_token(token)


async def known_device(deps: Deps, username: str, device: str | None) -> bytes | None:
    """The cookie's hash when it is a known device of the user called `username`, else None."""
    digest = device_hash(device)
    if digest is None:
        return None
    async with deps.sessions() as s:
        known = await KnownDeviceRepository(s).device_of(digest, username, deps.now())
    return digest if known else None


async def check_password(
    deps: Deps, username: str, password: str, address: str, device: str | None = None
) -> UserRecord:
    """Equal work whether or not the user exists: same counters, same lookup, one argon2
    verify. With a known-device cookie of this user (api-v1.1 F) only the device's own counter
    is consulted, so failures from elsewhere cannot lock the owner out."""
    digest = await known_device(deps, username, device)
    keys = device_keys(digest) if digest is not None else login_keys(username, address)
    await deps.throttle.count(deps.sessions, keys, deps.clock())
    async with deps.sessions() as s:
        user = await UserRepository(s).by_username(username)
    # A deleted account has no password hash: it costs the same dummy verify.
    stored = user.password_hash if user and user.password_hash else await deps.hasher.dummy_hash()
    ok, new_hash = await deps.hasher.verify_and_update(password, stored)
    # A deactivated account gets the generic failure (api-v1.1 C), after the same work.
    if user is None or not ok or user.deactivated or user.deleted:
        # Unknown names are not logged: people sometimes type a password in that field.
        security_event(
            "sign_in_failed",
            username=username if user else None,
            address=address,
            known_device=digest is not None,
        )
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
    device: str | None = None,
) -> SignedIn:
    username = normalize_username(username_raw)
    user = await check_password(deps, username, password, address, device)
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
        # A device cookie of this user keeps its value; any other (none, foreign, expired,
        # forged) is replaced by a new one.
        digest = device_hash(device)
        known = digest is not None and await KnownDeviceRepository(s).device_of(
            digest, username, now
        )
        if digest is None or not known:
            device = session_rules.new_refresh_token()
            digest = session_rules.hash_refresh_token(device)
        await KnownDeviceRepository(s).remember(
            digest, user.id, now, now + timedelta(seconds=deps.settings.device_lifetime_s)
        )
    security_event(
        "sign_in_succeeded",
        user_id=str(user.id),
        session_id=str(session_id),
        address=address,
        known_device=known,
    )
    result = signed_in(deps, user, session_id, token, expires)
    return replace(result, device_token=device)


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
