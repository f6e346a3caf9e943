"""The local user directory: recorded from `auth.user.registered.v1` and `auth.user.updated.v1`,
asked by DMs, invites and mentions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import msgspec
from chat_contracts import types
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.store import user_directory

USER_POLL_INTERVAL_S = 0.05


async def known_users(
    session: AsyncSession, user_ids: Sequence[UUID], *, wait_s: float
) -> dict[UUID, str]:
    """Usernames of the users in the local directory, waiting up to `wait_s` for missing ones.
    Deleted accounts are left out (nobody can open a DM with or invite them), without waiting.

    The directory is fed by `auth.user.registered.v1`, so a user who registered a moment ago may
    not be in it yet; a client that opens a DM right after the other person signed up should not
    get 404 for that. Polled (not awaited in-process) because another replica may consume the
    event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        found = await user_directory.get_users(session, user_ids)
        if len(found) == len(set(user_ids)) or loop.time() >= deadline:
            return {uid: user.username for uid, user in found.items() if not user.deleted}
        await asyncio.sleep(USER_POLL_INTERVAL_S)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def record_user(session: AsyncSession, user: types.User) -> None:
    await user_directory.upsert_user(
        session, UUID(user.id), user.username, user.display_name, _time(user.created_at)
    )


def user_state(user: types.User, version: int) -> user_directory.UserState:
    """The directory's view of an auth.user.updated.v1 body (fields a tolerant producer left
    out read as their defaults: no role known, active, not deleted)."""
    return user_directory.UserState(
        id=UUID(user.id),
        username=user.username,
        display_name=user.display_name,
        created_at=_time(user.created_at),
        role=None if user.role is msgspec.UNSET else user.role,
        deactivated=user.deactivated is True,
        deleted=user.deleted is True,
        version=version,
    )


async def record_update(session: AsyncSession, user: types.User, version: int) -> bool:
    """Keep the user at the highest `version` seen. True when this update was taken and says
    the account is deleted: the caller then removes what memberships are left (none after the
    first such update, so repeating it does nothing)."""
    state = user_state(user, version)
    return await user_directory.apply_update(session, state) and state.deleted
