"""What the use cases share, built once at start-up (routes take it from `app.state.auth`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.attempts import AttemptThrottle
from auth_service.hashing import PasswordHasher
from auth_service.keys import KeyRing
from auth_service.settings import AuthSettings

Clock = Callable[[], float]


def _no_relay() -> None:
    """Until the outbox relay runs, events simply wait in the outbox."""


@dataclass
class Deps:
    settings: AuthSettings
    sessions: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    hasher: PasswordHasher
    clock: Clock
    # Wakes the outbox relay after a commit that added events.
    notify: Callable[[], None] = _no_relay
    throttle: AttemptThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = AttemptThrottle(self.settings)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
