"""Forget stale throttle counters, and sessions, invitations and reset links expired for a day,
every few minutes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chat_runtime.logging import get_logger

from auth_service.deps import Deps
from auth_service.store import (
    KnownDeviceRepository,
    SessionRepository,
    ThrottleRepository,
    purge_links,
)

INTERVAL_S = 600.0

log = get_logger("auth_service.housekeeping")


async def purge(deps: Deps) -> tuple[int, int]:
    """(throttle counters, sessions) deleted."""
    now = deps.now()
    async with deps.sessions.begin() as s:
        counters = await ThrottleRepository(s).purge(now, deps.settings.throttle_window_s)
        expired = await SessionRepository(s).purge_expired(now - timedelta(days=1))
        # Expired invitations and reset links (api-v1.1 C): nothing can use them any more.
        await purge_links(s, now - timedelta(days=1))
        # Known-device cookies (api-v1.1 F) not renewed by a sign-in for their lifetime.
        await KnownDeviceRepository(s).purge(now)
    return counters, expired


async def run(deps: Deps) -> None:
    while True:
        try:
            counters, sessions = await purge(deps)
            if counters or sessions:
                log.info("housekeeping", throttle_counters=counters, sessions=sessions)
        except Exception as exc:  # the database may be down for a while; try again later
            log.warning("housekeeping_failed", error=repr(exc))
        await asyncio.sleep(INTERVAL_S)
