"""Files and attachments (api-v1.1 E): the `files` projection of `file.uploaded.v1`, the files
a send names, the attachments of a page of entries, and the access question file-service asks
(`file.access.query.v1`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.model import FileInfo
from message_service.store.tables import (
    file_of,
    files,
    memberships,
    message_attachments,
    messages,
    uuid_array,
)

# A text entry's files in their order as one JSON array (raw SQL of the send path: repeats and
# targets carry their attachments in the statements they always ran). `m` is the entry.
ATTACHMENTS_JSON = """(
        SELECT json_agg(json_build_object(
                   'id', f.id, 'uploader_id', f.uploader_id, 'purpose', f.purpose,
                   'name', f.name, 'size', f.size, 'content_type', f.content_type,
                   'sha256', f.sha256, 'width', f.width, 'height', f.height,
                   'has_thumbnail', f.has_thumbnail, 'created_at', f.created_at
               ) ORDER BY a.position)
        FROM message_attachments a JOIN files f ON f.id = a.file_id
        WHERE a.message_id = m.id
    )"""


def files_from_json(value: Any) -> tuple[FileInfo, ...]:
    """ATTACHMENTS_JSON's value (NULL: none) as FileInfos, in order."""
    if value is None:
        return ()
    items = orjson.loads(value) if isinstance(value, str | bytes) else value
    return tuple(
        FileInfo(
            id=UUID(item["id"]),
            uploader_id=UUID(item["uploader_id"]),
            purpose=item["purpose"],
            name=item["name"],
            size=int(item["size"]),
            content_type=item["content_type"],
            sha256=item["sha256"],
            width=item["width"],
            height=item["height"],
            has_thumbnail=bool(item["has_thumbnail"]),
            created_at=datetime.fromisoformat(item["created_at"]),
        )
        for item in items
    )


async def record_file(session: AsyncSession, file: FileInfo) -> bool:
    """Keep a file of `file.uploaded.v1`; a file is written once (it never changes), so a
    redelivery changes nothing. True when the row is new."""
    stmt = (
        pg.insert(files)
        .values(
            id=file.id,
            uploader_id=file.uploader_id,
            purpose=file.purpose,
            name=file.name,
            size=file.size,
            content_type=file.content_type,
            sha256=file.sha256,
            width=file.width,
            height=file.height,
            has_thumbnail=file.has_thumbnail,
            created_at=file.created_at,
        )
        .on_conflict_do_nothing(index_elements=[files.c.id])
        .returning(files.c.id)
    )
    return (await session.execute(stmt)).first() is not None


async def known_files(session: AsyncSession, ids: Iterable[UUID]) -> dict[UUID, FileInfo]:
    """The files of these ids that message-service knows (one statement)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = sa.select(files).where(files.c.id == sa.any_(uuid_array("file_ids", wanted)))
    return {row.id: file_of(row) for row in await session.execute(stmt)}


async def attachments_of(
    session: AsyncSession, message_ids: Sequence[UUID]
) -> dict[UUID, tuple[FileInfo, ...]]:
    """The files of these entries, each in its order (one statement)."""
    if not message_ids:
        return {}
    a = message_attachments
    stmt = (
        sa.select(a.c.message_id, files)
        .select_from(a.join(files, files.c.id == a.c.file_id))
        .where(a.c.message_id == sa.any_(uuid_array("message_ids", sorted(set(message_ids)))))
        .order_by(a.c.message_id, a.c.position)
    )
    found: dict[UUID, list[FileInfo]] = {}
    for row in await session.execute(stmt):
        found.setdefault(row.message_id, []).append(file_of(row))
    return {message_id: tuple(items) for message_id, items in found.items()}


async def write_attachments(session: AsyncSession, rows: Sequence[tuple[UUID, UUID, int]]) -> None:
    """Insert (message_id, file_id, position) rows (one statement)."""
    if not rows:
        return
    await session.execute(
        _WRITE_ATTACHMENTS,
        {
            "message_ids": [m for m, _, _ in rows],
            "file_ids": [f for _, f, _ in rows],
            "positions": [p for _, _, p in rows],
        },
    )


_WRITE_ATTACHMENTS = sa.text(
    """
    INSERT INTO message_attachments (message_id, file_id, position)
    SELECT * FROM unnest(
        CAST(:message_ids AS uuid[]), CAST(:file_ids AS uuid[]), CAST(:positions AS smallint[])
    )
    """
)


async def access(session: AsyncSession, file_id: UUID, user_id: UUID) -> tuple[bool, bool]:
    """(readable, attached) of `file.access.query.v1`: the file is on a non-deleted text entry
    of a room the user is a member of; it is on at least one non-deleted entry of any room.
    A delete removes its entry's rows, so both turn false at once. One statement, by the
    `message_attachments_file` index."""
    a = message_attachments
    on_live_entry = (
        sa.select(sa.literal(1))
        .select_from(a.join(messages, messages.c.id == a.c.message_id))
        .where(a.c.file_id == file_id, sa.not_(messages.c.deleted))
    )
    readable = on_live_entry.where(
        sa.exists().where(
            memberships.c.room_id == messages.c.room_id, memberships.c.user_id == user_id
        )
    )
    stmt = sa.select(
        sa.exists(readable).label("readable"), sa.exists(on_live_entry).label("attached")
    )
    row = (await session.execute(stmt)).one()
    return bool(row.readable), bool(row.attached)
