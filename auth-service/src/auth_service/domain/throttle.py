"""Login/registration throttling policy (api-v1 §3), pure: state and clock in, decisions out.

Each key (a (username, address) pair, a username, an address, or a known device) has a counter
of failures in a fixed window. Once the counter reaches the limit, every further failed attempt
blocks the key for `base_delay_s * 2**excess` seconds (capped). Attempts arriving while a key is
blocked are refused without looking at the password, and neither count nor extend the block
(api-v1.1 F): otherwise anyone could keep an account locked for ever with a trickle of requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum


class Scope(StrEnum):
    PAIR = "pair"
    USERNAME = "username"
    ADDRESS = "address"
    REGISTER = "register"
    # A browser holding a known-device cookie valid for the user (api-v1.1 F): its attempts are
    # counted here only, apart from the pair, username and address counters.
    DEVICE = "device"


@dataclass(frozen=True)
class CounterState:
    window_start: float
    count: int = 0
    blocked_until: float | None = None


@dataclass(frozen=True)
class Limit:
    limit: int
    window_s: float = 900.0
    base_delay_s: float = 5.0
    max_delay_s: float = 900.0

    def window_start(self, now: float) -> float:
        return math.floor(now / self.window_s) * self.window_s

    def current(self, state: CounterState | None, now: float) -> CounterState:
        """The state as seen at `now`: a counter from an earlier window starts again at zero,
        but a block that reaches into this window stays."""
        start = self.window_start(now)
        if state is None:
            return CounterState(window_start=start)
        if state.window_start < start:
            return CounterState(window_start=start, count=0, blocked_until=state.blocked_until)
        return state

    def retry_after(self, state: CounterState, now: float) -> float | None:
        """Seconds until the key may try again, or None when it may try now."""
        if state.blocked_until is not None and state.blocked_until > now:
            return state.blocked_until - now
        return None

    def delay(self, excess: int) -> float:
        # 2**excess overflows floats for absurd counts; the cap is reached long before.
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(excess, 64))

    def record_failure(self, state: CounterState, now: float) -> CounterState:
        """One more failed attempt; blocks once the limit is reached."""
        state = self.current(state, now)
        count = state.count + 1
        blocked = state.blocked_until
        if count >= self.limit:
            until = now + self.delay(count - self.limit)
            blocked = until if blocked is None else max(blocked, until)
        return replace(state, count=count, blocked_until=blocked)


def retry_after_header(seconds: float) -> str:
    """Retry-After wants whole seconds; round up so a client honouring it is never early."""
    return str(max(1, math.ceil(seconds)))
