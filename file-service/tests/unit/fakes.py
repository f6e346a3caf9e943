"""In-memory stand-ins for the storage and the store (unit tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from chat_runtime.messaging.outbox import OutboxEvent
from file_service.store import FileRecord


@dataclass
class MemoryStorage:
    blobs: dict[str, bytes] = field(default_factory=dict)
    fail_put: bool = False
    # When each key was written; a key missing here counts as written long ago.
    written_at: dict[str, datetime] = field(default_factory=dict)

    async def put(self, key: str, source: Path) -> None:
        if self.fail_put:
            raise OSError("disk full")
        self.blobs[key] = source.read_bytes()
        source.unlink()

    async def open_range(
        self, key: str, start: int = 0, end_inclusive: int | None = None
    ) -> AsyncIterator[bytes]:
        if key not in self.blobs:
            raise FileNotFoundError(key)
        data = self.blobs[key]
        yield data[start : None if end_inclusive is None else end_inclusive + 1]

    async def delete(self, key: str) -> None:
        self.blobs.pop(key, None)

    async def size(self, key: str) -> int | None:
        return len(self.blobs[key]) if key in self.blobs else None

    async def stored_before(self, cutoff: datetime) -> AsyncIterator[str]:
        long_ago = datetime(2000, 1, 1, tzinfo=UTC)
        for key in list(self.blobs):
            if self.written_at.get(key, long_ago) < cutoff:
                yield key

    async def close(self) -> None:
        return None


@dataclass
class MemoryStore:
    records: dict[UUID, FileRecord] = field(default_factory=dict)
    events: list[OutboxEvent] = field(default_factory=list)
    avatars: dict[UUID, UUID | None] = field(default_factory=dict)
    fail_add: bool = False

    async def add(self, record: FileRecord, event: OutboxEvent) -> None:
        if self.fail_add:
            raise ConnectionError("database down")
        self.records[record.id] = record
        self.events.append(event)

    async def due_attachments(self, cutoff: datetime, limit: int) -> list[FileRecord]:
        due = [
            r
            for r in self.records.values()
            if r.purpose == "attachment" and not r.kept and r.created_at < cutoff
        ]
        return sorted(due, key=lambda r: r.created_at)[:limit]

    async def due_avatars(self, cutoff: datetime, limit: int) -> list[FileRecord]:
        due = [
            r
            for r in self.records.values()
            if r.purpose == "avatar"
            and r.created_at < cutoff
            and self.avatars.get(r.uploader_id) != r.id
        ]
        return sorted(due, key=lambda r: r.created_at)[:limit]

    async def current_avatar(self, user_id: UUID) -> UUID | None:
        return self.avatars.get(user_id)

    async def mark_kept(self, file_id: UUID) -> None:
        self.records[file_id] = dataclasses.replace(self.records[file_id], kept=True)

    async def get_many(self, file_ids: Sequence[UUID]) -> list[FileRecord]:
        return [self.records[i] for i in file_ids if i in self.records]

    async def remove(self, file_ids: Sequence[UUID]) -> None:
        for file_id in file_ids:
            self.records.pop(file_id, None)


def record(
    *,
    purpose: str = "attachment",
    created_at: datetime | None = None,
    uploader_id: UUID | None = None,
    kept: bool = False,
) -> FileRecord:
    return FileRecord(
        id=uuid4(),
        uploader_id=uploader_id or uuid4(),
        purpose=purpose,
        name="f",
        size=1,
        content_type="text/plain",
        sha256="0" * 64,
        width=None,
        height=None,
        has_thumbnail=False,
        thumbnail_size=None,
        thumbnail_content_type=None,
        created_at=created_at or datetime.now(UTC),
        kept=kept,
    )
