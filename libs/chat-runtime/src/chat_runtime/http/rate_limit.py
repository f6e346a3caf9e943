"""Per-user rate limits for REST actions (issue #20, anti-automation).

One token bucket per (action, user id), in memory, per replica: a user gets `burst` requests at
once and then `count` per `period`. Over it the request is refused with 429, problem code
`rate_limited`, a `Retry-After` header (whole seconds, at least 1: when the next request will
be admitted) and a plain-words detail. Limits are per replica (N replicas let a user through N
times the rate); the edge's `limit_req` zones are the global backstop.

Each limited action has one setting in its service's settings, `CHAT_RATE_<ACTION>`, written
`<count>/<period>[:<burst>]` with period `s`, `min` or `h`, optionally preceded by a number
(`10/15min`); burst defaults to count; `off` turns the limit off. The defaults
(`DEFAULT_RATES`) are far above what a person does, so only scripts meet them.

Memory is bounded: a bucket that has filled up again is the same as no bucket, so idle keys are
dropped as they fill (oldest first, checked on every request), and past `max_keys` the least
recently used key is dropped even if not full (that user starts over with a full burst).
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from pydantic import AfterValidator

from chat_runtime.http.problems import PROBLEM_MEDIA_TYPE, Problem
from chat_runtime.logging import security_event

# Action names (the `<action>` of `CHAT_RATE_<ACTION>`) and their defaults.
MESSAGE_SEND = "message_send"  # POST /v1/rooms/{id}/messages (message-service)
ROOM_CREATE = "room_create"  # POST /v1/rooms (message-service)
DM_OPEN = "dm_open"  # POST /v1/dms (message-service)
SEARCH = "search"  # GET /v1/search (message-service)
INVITE_CREATE = "invite_create"  # POST /v1/invites (auth-service, admins only)
FILE_UPLOAD = "file_upload"  # POST /v1/files (file-service)
ROOM_JOIN = "room_join"  # POST /v1/rooms/{id}/members: joining, or adding someone (message-service)
ROOM_DIRECTORY = "room_directory"  # GET /v1/rooms/public (message-service)
PEOPLE_SEARCH = "people_search"  # GET /v1/users?q= (auth-service; ids= lookups are not counted)

DEFAULT_RATES: Mapping[str, str] = {
    # Faster than anyone types; an outbox flush of 40 queued messages passes at once.
    MESSAGE_SEND: "20/s:40",
    # An admin setting up a workspace makes 120 rooms at once, then one a second.
    ROOM_CREATE: "60/min:120",
    # Opening (or reopening) direct conversations: 120 at once, then one a second.
    DM_OPEN: "60/min:120",
    # Search as you type (debounced) stays far below 5 a second; 20 at once.
    SEARCH: "5/s:20",
    # Invitation links are one-time: a team of 60 invited at once, then 20 more an hour.
    INVITE_CREATE: "20/h:60",
    # Dropping 120 files at once, then one a second.
    FILE_UPLOAD: "60/min:120",
    # Joining public rooms or adding people to a room: 120 at once, then one a second.
    ROOM_JOIN: "60/min:120",
    # The public-room directory and people search follow typing (debounced), far below 10 a
    # second; 60 at once leaves room for a client that does not debounce, or a test suite
    # trying 30 odd queries in a row.
    ROOM_DIRECTORY: "10/s:60",
    PEOPLE_SEARCH: "10/s:60",
}

_UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|min|m|h)\s*(?::\s*(\d+))?\s*$")
_OFF = {"off", "none", "0"}


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` requests per `period_s` seconds, `burst` at once."""

    count: int
    period_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.period_s <= 0 or self.burst < 1:
            raise ValueError("a rate needs count >= 1, a period > 0 and burst >= 1")

    @property
    def per_second(self) -> float:
        return self.count / self.period_s

    @classmethod
    def parse(cls, spec: str) -> Rate | None:
        """`20/s:40`, `10/min`, `20/h:60`, `10/15min`; None for `off`. ValueError otherwise."""
        text = spec.strip().lower()
        if text in _OFF:
            return None
        match = _SPEC.match(text)
        if match is None:
            raise ValueError(
                f"rate {spec!r} is not <count>/<period>[:<burst>] (e.g. 20/s:40, 10/min, off)"
            )
        count, multiple, unit, burst = match.groups()
        period = (int(multiple) if multiple else 1) * _UNITS[unit]
        return cls(int(count), period, int(burst) if burst else int(count))


def _check_spec(value: str) -> str:
    Rate.parse(value)  # raises ValueError: the settings refuse to load with the variable named
    return value


RateSetting = Annotated[str, AfterValidator(_check_spec)]
"""A settings field holding a rate spec (validated when the settings load)."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_at: float


class RateLimiter:
    """Token buckets keyed by (action, user id). `take` is synchronous and never awaits, so
    it is safe from any number of requests on one event loop without a lock."""

    def __init__(
        self,
        rates: Mapping[str, Rate | str | None],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        """`max_keys`: the most users remembered per action."""
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rates: dict[str, Rate | None] = {
            action: Rate.parse(rate) if isinstance(rate, str) else rate
            for action, rate in rates.items()
        }
        self.clock = clock
        self.max_keys = max_keys
        # Per action, least recently used first. All of one action's buckets refill at the same
        # rate, and each is full at most burst / rate after its last use, so the front is the
        # next to fill up (give or take what was left in it).
        self._buckets: dict[str, OrderedDict[str, _Bucket]] = {a: OrderedDict() for a in self.rates}

    def __len__(self) -> int:
        return sum(len(buckets) for buckets in self._buckets.values())

    def rate(self, action: str) -> Rate | None:
        """The action's rate; a KeyError for an action nobody configured (a wiring mistake)."""
        return self.rates[action]

    def take(self, action: str, user_id: str) -> float:
        """Admit one request: 0.0, or the seconds until one would be admitted (> 0)."""
        rate = self.rate(action)
        if rate is None:
            return 0.0
        now = self.clock()
        buckets = self._buckets[action]
        _evict_full(buckets, rate, now)
        bucket = buckets.get(user_id)
        if bucket is None:
            bucket = _Bucket(float(rate.burst), now)
            buckets[user_id] = bucket
            while len(buckets) > self.max_keys:
                buckets.popitem(last=False)
        else:
            elapsed = max(0.0, now - bucket.updated_at)
            bucket.tokens = min(float(rate.burst), bucket.tokens + elapsed * rate.per_second)
            bucket.updated_at = now
            buckets.move_to_end(user_id)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate.per_second


def _evict_full(buckets: OrderedDict[str, _Bucket], rate: Rate, now: float) -> None:
    """Drop keys from the front whose bucket is full again (as good as no bucket)."""
    while buckets:
        bucket = next(iter(buckets.values()))
        if bucket.tokens + (now - bucket.updated_at) * rate.per_second < rate.burst:
            return
        buckets.popitem(last=False)


def retry_after_seconds(wait_s: float) -> int:
    """`Retry-After` in whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait_s - 1e-9))


_DETAILS = {
    MESSAGE_SEND: "You are sending messages too fast.",
    ROOM_CREATE: "You are creating rooms too fast.",
    DM_OPEN: "You are opening direct conversations too fast.",
    SEARCH: "You are searching too fast.",
    INVITE_CREATE: "You are creating invitations too fast.",
    FILE_UPLOAD: "You are uploading files too fast.",
    ROOM_JOIN: "You are joining rooms or adding people too fast.",
    ROOM_DIRECTORY: "You are browsing rooms too fast.",
    PEOPLE_SEARCH: "You are searching for people too fast.",
}


def rate_limited_problem(action: str, wait_s: float) -> Problem:
    seconds = retry_after_seconds(wait_s)
    unit = "second" if seconds == 1 else "seconds"
    lead = _DETAILS.get(action, "You are doing that too often.")
    return Problem(
        429,
        "rate_limited",
        f"{lead} Please wait {seconds} {unit} and try again.",
        headers={"Retry-After": str(seconds)},
    )


def install_rate_limits(
    app: FastAPI,
    rates: Mapping[str, Rate | str | None],
    *,
    clock: Callable[[], float] = time.monotonic,
    max_keys: int = 100_000,
) -> RateLimiter:
    """Give the app its limiter (`app.state.rate_limiter`), used by `rate_limit` dependencies."""
    limiter = RateLimiter(rates, clock=clock, max_keys=max_keys)
    app.state.rate_limiter = limiter
    return limiter


def rate_limit(
    action: str,
    caller: Callable[..., Any],
    *,
    counts: Callable[[Request], bool] | None = None,
) -> Callable[[Request, Any], Awaitable[None]]:
    """A FastAPI dependency that counts one `action` for the caller (the value of the
    service's own `caller` dependency, a user id or claims with `user_id`) and raises the 429
    problem when over the limit. Use it after authentication: `dependencies=[Depends(...)]`
    or as a parameter; FastAPI shares `caller`'s result with the route (one token check).
    `counts`: only requests it says yes to count (one route serving two uses, e.g. a search
    and a lookup by ids); None counts every request."""

    # `Depends` as the default, not in `Annotated`: annotations are strings here (from
    # __future__) and FastAPI could not resolve a local name inside one.
    async def dependency(request: Request, who: Any = Depends(caller)) -> None:
        if counts is not None and not counts(request):
            return
        limiter: RateLimiter = request.app.state.rate_limiter
        user_id = str(getattr(who, "user_id", who))
        wait_s = limiter.take(action, user_id)
        if wait_s > 0:
            problem = rate_limited_problem(action, wait_s)
            security_event(
                "rate_limited",
                action=action,
                user_id=user_id,
                retry_after_s=retry_after_seconds(wait_s),
                path=request.url.path,
            )
            raise problem

    dependency.__name__ = f"rate_limit_{action}"
    return dependency


RATE_LIMITED_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many requests from this user (problem code `rate_limited`); "
        "retry after `Retry-After` seconds.",
        "headers": {
            "Retry-After": {
                "description": "Whole seconds (at least 1) until a request is admitted.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"type": "object"}}},
    }
}
"""OpenAPI documentation of the refusal, for `responses=` of a limited route."""
