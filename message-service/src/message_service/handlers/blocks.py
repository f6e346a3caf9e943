"""`auth.block.changed.v1`: keep the `blocks` projection (api-v1.1 C) that refuses direct
entries between blocked users and leaves blocked senders out of mention counts."""

from __future__ import annotations

from uuid import UUID

from chat_contracts import types
from chat_runtime.messaging import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.handlers.deps import BusDeps, in_transaction
from message_service.store import blocks


async def handle_changed(deps: BusDeps, env: Envelope[types.AuthBlockChangedV1]) -> None:
    """Idempotent and order-free: a change at or below the pair's stored version changes
    nothing. Acked once the transaction committed (the runner acks after this returns)."""
    change = env.body

    async def work(session: AsyncSession) -> None:
        await blocks.apply_change(
            session,
            UUID(change.blocker_id),
            UUID(change.blocked_id),
            change.blocked,
            change.version,
        )

    await in_transaction(deps, work)
