"""The local user directory: recorded from `auth.user.registered.v1`, asked by DMs and invites."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from chat_contracts import types
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.store import user_directory

USER_POLL_INTERVAL_S = 0.05


async def known_users(
    session: AsyncSession, user_ids: Sequence[UUID], *, wait_s: float
) -> dict[UUID, str]:
    """Usernames of the users in the local directory, waiting up to `wait_s` for missing ones.

    The directory is fed by `auth.user.registered.v1`, so a user who registered a moment ago may
    not be in it yet; a client that opens a DM right after the other person signed up should not
    get 404 for that. Polled (not awaited in-process) because another replica may consume the
    event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        names = await user_directory.get_usernames(session, user_ids)
        if len(names) == len(set(user_ids)) or loop.time() >= deadline:
            return names
        await asyncio.sleep(USER_POLL_INTERVAL_S)


async def record_user(session: AsyncSession, user: types.User) -> None:
    await user_directory.upsert_user(
        session,
        UUID(user.id),
        user.username,
        user.display_name,
        datetime.fromisoformat(user.created_at.replace("Z", "+00:00")),
    )
