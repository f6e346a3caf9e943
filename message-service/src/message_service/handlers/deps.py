"""What every handler needs: its dependencies and one committed transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from chat_runtime.db import is_infrastructure_error
from chat_runtime.features import NONE, Features
from chat_runtime.messaging import InfrastructureError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from message_service.leases import LeaseLost, SendShardLeases
from message_service.store import Notifier, UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BusDeps:
    sessions: async_sessionmaker[AsyncSession]
    relay: Notifier | None
    # x-delivery-limit of the command queues: the delivery after that many returns is the last.
    delivery_limit: int
    # The api-v1.1 features that are on (CHAT_FEATURES): sends needing others are refused.
    features: Features = NONE
    # This process's send-shard leases; None: CHAT_SEND_LEASES=false (sends are not fenced).
    leases: SendShardLeases | None = None


async def in_transaction(deps: BusDeps, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction; a database outage becomes InfrastructureError."""
    try:
        async with UnitOfWork(deps.sessions, deps.relay) as session:
            return await work(session)
    except (InfrastructureError, LeaseLost):
        raise  # LeaseLost: the fence refused the batch; not an outage, whatever caused it
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise InfrastructureError(f"database unavailable: {exc}") from exc
        raise
