"""The tables of file-service (migration 0001 creates exactly these) and `FileStore`, the
repository over them (SQLAlchemy 2 Core, bound parameters only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import sqlalchemy as sa
from chat_runtime.messaging.outbox import OutboxEvent, add_events, outbox_table
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

metadata = sa.MetaData()

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("uploader_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("sha256", sa.CHAR(64), nullable=False),
    sa.Column("width", sa.Integer, nullable=True),
    sa.Column("height", sa.Integer, nullable=True),
    sa.Column("has_thumbnail", sa.Boolean, nullable=False),
    # The thumbnail's bytes and type (JPEG, PNG with alpha): its headers without asking the
    # storage.
    sa.Column("thumbnail_size", sa.BigInteger, nullable=True),
    sa.Column("thumbnail_content_type", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # An attachment message-service said is attached: never an orphan again (DESIGN §6).
    sa.Column("kept", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint("purpose IN ('attachment', 'avatar')", name="files_purpose"),
    sa.Index("files_uploader_purpose", "uploader_id", "purpose"),
    sa.Index("files_created_at", "created_at"),
)

# The projection of auth.user.updated.v1: each user's current avatar (highest version wins).
users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("avatar_file_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
)

# The outbox's shape belongs to chat_runtime (its relay reads it).
outbox = outbox_table(metadata)


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: UUID
    uploader_id: UUID
    purpose: str
    name: str
    size: int
    content_type: str
    sha256: str
    width: int | None
    height: int | None
    has_thumbnail: bool
    thumbnail_size: int | None
    thumbnail_content_type: str | None
    created_at: datetime
    kept: bool = False


def _record(row: Any) -> FileRecord:
    return FileRecord(
        id=row.id,
        uploader_id=row.uploader_id,
        purpose=row.purpose,
        name=row.name,
        size=row.size,
        content_type=row.content_type,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        has_thumbnail=row.has_thumbnail,
        thumbnail_size=row.thumbnail_size,
        thumbnail_content_type=row.thumbnail_content_type,
        created_at=row.created_at,
        kept=row.kept,
    )


class Notifier(Protocol):
    """The outbox relay as a committed transaction sees it (`OutboxRelay`)."""

    def after_commit(self, session: AsyncSession) -> None: ...


class FileStore:
    """Every statement of file-service; each method is one transaction."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], relay: Notifier | None = None
    ) -> None:
        self.sessions = sessions
        self.relay = relay

    async def add(self, record: FileRecord, event: OutboxEvent) -> None:
        """The row and its event (`file.uploaded.v1`) in one transaction; the relay publishes
        it once committed."""
        async with self.sessions() as session:
            async with session.begin():
                await session.execute(
                    sa.insert(files).values(
                        id=record.id,
                        uploader_id=record.uploader_id,
                        purpose=record.purpose,
                        name=record.name,
                        size=record.size,
                        content_type=record.content_type,
                        sha256=record.sha256,
                        width=record.width,
                        height=record.height,
                        has_thumbnail=record.has_thumbnail,
                        thumbnail_size=record.thumbnail_size,
                        thumbnail_content_type=record.thumbnail_content_type,
                        created_at=record.created_at,
                        kept=record.kept,
                    )
                )
                await add_events(session, outbox, [event])
            if self.relay is not None:
                self.relay.after_commit(session)

    async def get(self, file_id: UUID) -> FileRecord | None:
        async with self.sessions() as session:
            row = (await session.execute(sa.select(files).where(files.c.id == file_id))).first()
        return None if row is None else _record(row)

    async def get_many(self, file_ids: Sequence[UUID]) -> list[FileRecord]:
        """The ones that exist, in the order asked."""
        if not file_ids:
            return []
        async with self.sessions() as session:
            rows = (
                await session.execute(sa.select(files).where(files.c.id.in_(list(file_ids))))
            ).all()
        found = {row.id: _record(row) for row in rows}
        return [found[i] for i in file_ids if i in found]

    async def due_attachments(self, cutoff: datetime, limit: int) -> list[FileRecord]:
        """Attachments created before `cutoff` nobody has attached yet, oldest first."""
        query = (
            sa.select(files)
            .where(
                files.c.purpose == "attachment",
                files.c.kept.is_(False),
                files.c.created_at < cutoff,
            )
            .order_by(files.c.created_at)
            .limit(limit)
        )
        async with self.sessions() as session:
            return [_record(row) for row in (await session.execute(query)).all()]

    async def due_avatars(self, cutoff: datetime, limit: int) -> list[FileRecord]:
        """Avatars created before `cutoff` that are not their uploader's current avatar."""
        current = (
            sa.select(users.c.avatar_file_id)
            .where(users.c.user_id == files.c.uploader_id)
            .scalar_subquery()
        )
        query = (
            sa.select(files)
            .where(
                files.c.purpose == "avatar",
                files.c.created_at < cutoff,
                current.is_distinct_from(files.c.id),
            )
            .order_by(files.c.created_at)
            .limit(limit)
        )
        async with self.sessions() as session:
            return [_record(row) for row in (await session.execute(query)).all()]

    async def mark_kept(self, file_id: UUID) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(sa.update(files).where(files.c.id == file_id).values(kept=True))

    async def remove(self, file_ids: Sequence[UUID]) -> None:
        if not file_ids:
            return
        async with self.sessions() as session, session.begin():
            await session.execute(sa.delete(files).where(files.c.id.in_(list(file_ids))))

    async def avatars_of(self, user_id: UUID) -> list[FileRecord]:
        query = sa.select(files).where(files.c.uploader_id == user_id, files.c.purpose == "avatar")
        async with self.sessions() as session:
            return [_record(row) for row in (await session.execute(query)).all()]

    async def record_user(
        self,
        user_id: UUID,
        *,
        version: int,
        avatar_file_id: UUID | None,
        keep_avatar: bool,
        deleted: bool,
    ) -> bool:
        """Keep the highest version of a user (an older or repeated one changes nothing);
        `keep_avatar`: the update did not say (an older producer), keep the known avatar.
        Returns whether the user is deleted now (whichever copy won)."""
        insert = pg.insert(users).values(
            user_id=user_id, avatar_file_id=avatar_file_id, version=version, deleted=deleted
        )
        changes: dict[str, Any] = {"version": insert.excluded.version, "deleted": deleted}
        if not keep_avatar:
            changes["avatar_file_id"] = insert.excluded.avatar_file_id
        upsert = insert.on_conflict_do_update(
            index_elements=[users.c.user_id],
            set_=changes,
            where=users.c.version < insert.excluded.version,
        )
        async with self.sessions() as session, session.begin():
            await session.execute(upsert)
            stored = await session.scalar(
                sa.select(users.c.deleted).where(users.c.user_id == user_id)
            )
        return bool(stored)

    async def current_avatar(self, user_id: UUID) -> UUID | None:
        async with self.sessions() as session:
            value: UUID | None = await session.scalar(
                sa.select(users.c.avatar_file_id).where(users.c.user_id == user_id)
            )
        return value
