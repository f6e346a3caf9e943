"""`auth.user.updated.v1` on `names.FILE_EVENTS_QUEUE`: each user's current avatar (highest
version wins; older and repeated copies change nothing), and a deleted account's avatar files
erased, bytes and rows (api-v1.1 C)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import msgspec
from chat_contracts import types
from chat_runtime.db import is_infrastructure_error
from chat_runtime.logging import get_logger
from chat_runtime.messaging import Envelope, InfrastructureError

from file_service.storage import FileStorage, content_key, thumbnail_key
from file_service.store import FileStore

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class UserDeps:
    store: FileStore
    storage: FileStorage


async def handle_updated(deps: UserDeps, env: Envelope[types.AuthUserUpdatedV1]) -> None:
    """Idempotent: the projection keeps the highest version, and erasing is repeated (and
    finds nothing left) for every copy that arrives while the user is deleted. Bytes go before
    rows, so a failure in between leaves rows that the next delivery erases again."""
    user, version = env.body.user, env.body.version
    user_id = UUID(user.id)
    avatar = user.avatar_file_id
    try:
        deleted = await deps.store.record_user(
            user_id,
            version=version,
            avatar_file_id=UUID(avatar) if isinstance(avatar, str) else None,
            keep_avatar=avatar is msgspec.UNSET,
            deleted=user.deleted is True,
        )
        if not deleted:
            return
        avatars = await deps.store.avatars_of(user_id)
        try:
            for record in avatars:
                await deps.storage.delete(content_key(str(record.id)))
                await deps.storage.delete(thumbnail_key(str(record.id)))
        except Exception as exc:  # the storage is away: hold the delivery, retry later
            raise InfrastructureError(f"cannot erase avatar bytes: {exc!r}") from exc
        await deps.store.remove([record.id for record in avatars])
    except InfrastructureError:
        raise
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise InfrastructureError(f"cannot apply the user update: {exc!r}") from exc
        raise
    if avatars:
        log.info("avatars_erased", user_id=str(user_id), files=len(avatars))
