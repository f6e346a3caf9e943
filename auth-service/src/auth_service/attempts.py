"""Failed-attempt throttling of logins, password checks and registrations (api-v1 §3), over the
counters in PostgreSQL so that every replica sees the same counts."""

from __future__ import annotations

from chat_runtime.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.domain.throttle import CounterState, Limit, Scope
from auth_service.errors import TooManyAttempts
from auth_service.settings import AuthSettings
from auth_service.store import ThrottleRepository, pair_key

Keys = list[tuple[Scope, str]]

log = get_logger("auth_service.attempts")


def login_keys(username: str, address: str) -> Keys:
    return [
        (Scope.PAIR, pair_key(username, address)),
        (Scope.USERNAME, username),
        (Scope.ADDRESS, address),
    ]


class AttemptThrottle:
    def __init__(self, settings: AuthSettings) -> None:
        window = float(settings.throttle_window_s)
        base, cap = settings.throttle_base_delay_s, settings.throttle_max_delay_s
        self.limits: dict[Scope, Limit] = {
            scope: Limit(limit, window, base_delay_s=base, max_delay_s=cap)
            for scope, limit in (
                (Scope.PAIR, settings.login_pair_limit),
                (Scope.USERNAME, settings.login_username_limit),
                (Scope.ADDRESS, settings.login_address_limit),
                (Scope.REGISTER, settings.register_address_limit),
            )
        }

    async def count(
        self, sessions: async_sessionmaker[AsyncSession], keys: Keys, now: float
    ) -> None:
        """Count this attempt as a failure up front (undone on success), so a burst of parallel
        requests cannot all slip through before the first result is recorded. Raises
        TooManyAttempts when any key is blocked; the refused attempt still counts."""
        async with sessions.begin() as s:
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

    async def forgive(self, s: AsyncSession, keys: Keys) -> None:
        """A success: the pair starts over, the wider counters forget this attempt."""
        repo = ThrottleRepository(s)
        states = await repo.lock(keys)
        for (scope, key), state in states.items():
            if scope is Scope.PAIR:
                await repo.reset(scope, key)
                continue
            count = max(0, state.count - 1)
            blocked = state.blocked_until if count >= self.limits[scope].limit else None
            await repo.save(scope, key, CounterState(state.window_start, count, blocked))
