"""The operator's break-glass commands (api-v1.1 C; no email exists): `create-owner` makes the
owner account when none exists, `reset-link <username>` prints a password-reset link. Both
work on the database directly (migrating it first, like the service) and announce what they
change through the outbox, which the running service's relay publishes."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chat_runtime.db import create_engine
from sqlalchemy.ext.asyncio import async_sessionmaker

from auth_service import resets
from auth_service.deps import Deps
from auth_service.domain.passwords import password_errors
from auth_service.domain.people import Action, Role
from auth_service.domain.usernames import (
    display_name_errors,
    normalize_display_name,
    normalize_username,
    username_errors,
)
from auth_service.errors import ValidationFailed
from auth_service.events import add_user_registered, add_user_updated
from auth_service.hashing import PasswordHasher
from auth_service.keys import KeyRing
from auth_service.settings import AuthSettings
from auth_service.store import AuditRepository, UserRecord, UserRepository


class OperatorError(Exception):
    """A refusal to print for the operator (exit status 1)."""


@asynccontextmanager
async def _deps(settings: AuthSettings) -> AsyncIterator[Deps]:
    if settings.migrate_on_start:
        from chat_runtime.migrate import upgrade

        await upgrade(str(settings.alembic_config()), settings.database_url, settings.service_name)
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    hasher = PasswordHasher(
        memory_cost_kib=settings.argon2_memory_cost_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
        concurrency=1,
    )
    # Signs nothing: the key ring is never loaded.
    keyring = KeyRing(settings.keys_dir, read_only=True)
    try:
        yield Deps(
            settings, async_sessionmaker(engine, expire_on_commit=False), keyring, hasher, time.time
        )
    finally:
        await engine.dispose()


async def create_owner(
    settings: AuthSettings, username_raw: str, display_name_raw: str, password: str
) -> UserRecord:
    errors = [
        *username_errors(username_raw),
        *display_name_errors(display_name_raw),
        *password_errors(password, username_raw, other_inputs=(display_name_raw.strip(),)),
    ]
    if errors:
        raise ValidationFailed(errors)
    async with _deps(settings) as deps:
        return await _create_owner(deps, username_raw, display_name_raw, password)


async def _create_owner(
    deps: Deps, username_raw: str, display_name_raw: str, password: str
) -> UserRecord:
    password_hash = await deps.hasher.hash(password)
    async with deps.sessions.begin() as s:
        repo = UserRepository(s)
        if await repo.owner() is not None:
            raise OperatorError("An owner exists already; this command makes only the first one.")
        user = UserRecord(
            id=uuid.uuid4(),
            username=normalize_username(username_raw),
            display_name=normalize_display_name(display_name_raw),
            password_hash=password_hash,
            created_at=deps.now(),
            role=Role.OWNER,
            version=1,
        )
        if not await repo.add(user):
            raise OperatorError(f"The username {user.username!r} is taken; pick another one.")
        await add_user_registered(s, user)
        await add_user_updated(s, [user])
        await AuditRepository(s).add(
            actor_id=None, action=Action.OWNER_CREATED, target_id=user.id, at=deps.now(), ip=None
        )
    return user


async def reset_link(settings: AuthSettings, username: str) -> resets.Link:
    async with _deps(settings) as deps, deps.sessions.begin() as s:
        user = await UserRepository(s).by_username(normalize_username(username))
        if user is None or user.deleted:
            raise OperatorError(f"There is no user {username!r}.")
        if user.deactivated:
            raise OperatorError(f"{username!r} is deactivated; reactivate the account first.")
        link = await resets.issue(deps, s, user, None)
        await AuditRepository(s).add(
            actor_id=None,
            action=Action.PASSWORD_RESET_LINK,
            target_id=user.id,
            at=deps.now(),
            ip=None,
            details={"by": "operator"},
        )
    return link
