"""Stored records as contract values (`chat_contracts.types`): the api-v1 `user` object and
RFC 3339 UTC times with milliseconds (api-v1 §2), the same on the REST API and on the bus."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from chat_contracts import types

from auth_service.store import RevokedSession, UserRecord


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_of(user: UserRecord, *, with_deleted: bool = False) -> types.User:
    """The `user` object; `with_deleted` for the bus (auth.user.updated.v1), whose consumers
    remove a deleted account's memberships."""
    return types.User(
        id=str(user.id),
        username=user.username,
        display_name=user.display_name,
        created_at=rfc3339(user.created_at),
        role=user.role,
        deactivated=user.deactivated,
        deleted=user.deleted if with_deleted else msgspec.UNSET,
        avatar_file_id=str(user.avatar_file_id) if user.avatar_file_id else None,
        timezone=user.timezone,
    )


def revoked_session_of(revoked: RevokedSession) -> types.RevokedSession:
    return types.RevokedSession(
        session_id=str(revoked.session_id),
        user_id=str(revoked.user_id),
        revoked_at=rfc3339(revoked.revoked_at),
    )
