"""The events auth-service publishes, written to the outbox in the transaction of the change
(the relay publishes them once committed; callers then call `Deps.notify`)."""

from __future__ import annotations

import uuid
from typing import Any, cast

from chat_contracts import names, types
from chat_runtime.messaging.outbox import OutboxEvent, add_event, add_events
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.domain.sessions import RevokeReason
from auth_service.store import RevokedSession, UserRecord, outbox
from auth_service.wire import rfc3339, user_of


def session_revoked(revoked: RevokedSession, reason: RevokeReason) -> types.AuthSessionRevokedV1:
    return types.AuthSessionRevokedV1(
        session_id=str(revoked.session_id),
        user_id=str(revoked.user_id),
        revoked_at=rfc3339(revoked.revoked_at),
        # The contract's reasons are RevokeReason's values (tests/unit/test_events.py).
        reason=cast(Any, reason.value),
    )


async def add_user_registered(s: AsyncSession, user: UserRecord) -> None:
    await add_event(
        s,
        outbox,
        routing_key=names.AUTH_USER_REGISTERED_V1,
        body=types.AuthUserRegisteredV1(user=user_of(user)),
    )


async def add_sessions_revoked(
    s: AsyncSession, revoked: list[RevokedSession], reason: RevokeReason
) -> None:
    await add_events(
        s,
        outbox,
        [OutboxEvent(names.AUTH_SESSION_REVOKED_V1, session_revoked(r, reason)) for r in revoked],
    )


def user_updated(user: UserRecord) -> types.AuthUserUpdatedV1:
    return types.AuthUserUpdatedV1(user=user_of(user, with_deleted=True), version=user.version)


async def add_user_updated(s: AsyncSession, users: list[UserRecord]) -> None:
    """Announce users after a change (their `version` already counts it)."""
    await add_events(
        s, outbox, [OutboxEvent(names.AUTH_USER_UPDATED_V1, user_updated(u)) for u in users]
    )


def block_changed(
    blocker_id: uuid.UUID, blocked_id: uuid.UUID, blocked: bool, version: int
) -> types.AuthBlockChangedV1:
    return types.AuthBlockChangedV1(
        blocker_id=str(blocker_id), blocked_id=str(blocked_id), blocked=blocked, version=version
    )


async def add_block_changed(
    s: AsyncSession, blocker_id: uuid.UUID, blocked_id: uuid.UUID, blocked: bool, version: int
) -> None:
    """Announce a block or unblock (`version`: the pair's, already counting this change)."""
    await add_event(
        s,
        outbox,
        routing_key=names.AUTH_BLOCK_CHANGED_V1,
        body=block_changed(blocker_id, blocked_id, blocked, version),
    )
