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


def device_keys(device_hash: bytes) -> Keys:
    """A known device's attempts (api-v1.1 F): its own counter only, so failures from elsewhere
    (the username's or the address's counters) never block it."""
    return [(Scope.DEVICE, device_hash.hex())]


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
                (Scope.DEVICE, settings.login_pair_limit),
            )
        }

    async def count(
        self, sessions: async_sessionmaker[AsyncSession], keys: Keys, now: float
    ) -> None:
        """Count this attempt as a failure up front (undone on success), so a burst of parallel
        requests cannot all slip through before the first result is recorded. Raises
        TooManyAttempts when any key is blocked; a refused attempt neither counts nor extends
        the block (api-v1.1 F), so a trickle of requests cannot keep an account locked."""
        async with sessions.begin() as s:
            repo = ThrottleRepository(s)
            states = await repo.lock(keys)
            retry = 0.0
            for (scope, _), state in states.items():
                limit = self.limits[scope]
                retry = max(retry, limit.retry_after(limit.current(state, now), now) or 0.0)
            if not retry:
                for (scope, key), state in states.items():
                    await repo.save(scope, key, self.limits[scope].record_failure(state, now))
        if retry:
            # Keys are usernames, addresses and device hashes, never passwords.
            log.warning("attempt_throttled", key=keys[-1][1], retry_after_s=retry)
            raise TooManyAttempts(retry)

    async def forgive(self, s: AsyncSession, keys: Keys) -> None:
        """A success: the pair (or the device) starts over, the wider counters forget this
        attempt."""
        repo = ThrottleRepository(s)
        states = await repo.lock(keys)
        for (scope, key), state in states.items():
            if scope in (Scope.PAIR, Scope.DEVICE):
                await repo.reset(scope, key)
                continue
            count = max(0, state.count - 1)
            blocked = state.blocked_until if count >= self.limits[scope].limit else None
            await repo.save(scope, key, CounterState(state.window_start, count, blocked))
