"""Announce accounts made before api-v1.1 C (migration 0002 left them at `version` 0): on every
start, in one transaction, each such user moves to version 1 and gets one auth.user.updated.v1
in the outbox. Idempotent (a second start, or a second replica, finds none left)."""

from __future__ import annotations

from chat_runtime.logging import get_logger

from auth_service.deps import Deps
from auth_service.events import add_user_updated
from auth_service.store import UserRepository

log = get_logger("auth_service.backfill")


async def announce_unversioned(deps: Deps) -> int:
    async with deps.sessions.begin() as s:
        users = await UserRepository(s).announce_unversioned()
        await add_user_updated(s, users)
    if users:
        log.info("users_announced", count=len(users))
        deps.notify()
    return len(users)
