"""Files (api-v1.1 E): `file.uploaded.v1` keeps the `files` projection that sends attach from;
`file.access.query.v1` -> `file.access.reply.v1` tells file-service whether a user may read an
attachment and whether it is attached anywhere (before it serves the bytes to anyone but the
uploader, and before it deletes an orphan)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from chat_contracts import types
from chat_runtime.messaging import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.model import FileInfo
from message_service.handlers.deps import BusDeps, in_transaction
from message_service.store import files


def file_info(file: types.File) -> FileInfo:
    """The contract's `file` (as the bus carries it: no links) as the projection's row."""
    return FileInfo(
        id=UUID(file.id),
        uploader_id=UUID(file.uploader_id),
        purpose=file.purpose,
        name=file.name,
        size=file.size,
        content_type=file.content_type,
        sha256=file.sha256,
        width=file.width,
        height=file.height,
        has_thumbnail=file.has_thumbnail,
        created_at=datetime.fromisoformat(file.created_at),
    )


async def handle_uploaded(deps: BusDeps, env: Envelope[types.FileUploadedV1]) -> None:
    """Idempotent: a file is written once and never changes, so a redelivery (or a second
    copy) changes nothing. Acked once the transaction committed."""
    file = file_info(env.body.file)

    async def work(session: AsyncSession) -> None:
        await files.record_file(session, file)

    await in_transaction(deps, work)


async def answer_access(
    deps: BusDeps, env: Envelope[types.FileAccessQueryV1]
) -> types.FileAccessReplyV1:
    """`readable`: the file is on a non-deleted text entry of a room the user is a member of
    now; `attached`: it is on a non-deleted entry of any room. A delete, a removal or a leave
    is seen by the next query (file-service caches answers for at most a second)."""
    file_id, user_id = UUID(env.body.file_id), UUID(env.body.user_id)

    async def work(session: AsyncSession) -> tuple[bool, bool]:
        return await files.access(session, file_id, user_id)

    readable, attached = await in_transaction(deps, work)
    return types.FileAccessReplyV1(
        file_id=str(file_id), user_id=str(user_id), readable=readable, attached=attached
    )
