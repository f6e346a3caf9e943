"""Per-connection token bucket and the "close if it goes on" rule (api-v1 §6)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Verdict(enum.Enum):
    ALLOW = "allow"
    REJECT = "reject"  # answer `rate_limited`, drop the frame
    CLOSE = "close"  # over the limit for too long: close 1008


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class RateLimiter:
    """A bucket plus the memory of how long the client has been over it.

    A flood keeps getting some frames through as tokens trickle back, so "goes on" means: refused
    at least once a second (`gap_s`) for `close_after_s` in a row.
    """

    bucket: TokenBucket
    close_after_s: float = 10.0
    gap_s: float = 1.0
    limited_since: float | None = None
    last_refused_at: float = 0.0

    @classmethod
    def create(cls, rate: float, burst: float, now: float, close_after_s: float) -> RateLimiter:
        return cls(TokenBucket(rate, burst, updated_at=now), close_after_s)

    def try_take(self, now: float) -> bool:
        """Take a frame's token if there is one. A refusal is not recorded: the caller then
        sends the frame the way that calls `check`."""
        return self.bucket.take(now)

    def check(self, now: float) -> Verdict:
        if self.bucket.take(now):
            return Verdict.ALLOW
        if self.limited_since is None or now - self.last_refused_at > self.gap_s:
            self.limited_since = now
        self.last_refused_at = now
        if now - self.limited_since >= self.close_after_s:
            return Verdict.CLOSE
        return Verdict.REJECT
