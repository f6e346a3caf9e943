"""The upload use case (api-v1.1 E, DESIGN §4): a received spool file -> sniffed, images
re-encoded without metadata and thumbnailed, hashed, stored, recorded with its
`file.uploaded.v1` in one transaction."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from chat_contracts import names, types
from chat_runtime.logging import get_logger
from chat_runtime.messaging.outbox import OutboxEvent

from file_service.domain.filenames import BadField, Purpose, check_purpose, choose_name
from file_service.domain.images import ImageResult, process_image
from file_service.domain.sniff import IMAGE_TYPES, SNIFF_BYTES, sniff_content_type
from file_service.errors import StorageUnavailable
from file_service.spool import ReceivedUpload, remove_quietly
from file_service.storage import FileStorage, content_key, thumbnail_key
from file_service.store import FileRecord
from file_service.wire import file_struct

log = get_logger(__name__)

HASH_CHUNK = 1024 * 1024


class FileAdder(Protocol):
    """Where a new file is recorded (`FileStore.add`: the row and its event, one transaction)."""

    async def add(self, record: FileRecord, event: OutboxEvent) -> None: ...


def uploaded_event(record: FileRecord) -> OutboxEvent:
    """`file.uploaded.v1` (the file without links) on chat.events, keyed by its type name."""
    body = types.FileUploadedV1(file=file_struct(record))
    return OutboxEvent(names.FILE_UPLOADED_V1, body, message_id=f"file-uploaded-{record.id}")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Stored:
    path: Path
    content_type: str
    width: int | None
    height: int | None
    thumb: Path | None
    thumb_content_type: str | None


class Uploads:
    def __init__(
        self,
        storage: FileStorage,
        store: FileAdder,
        *,
        max_image_pixels: int,
        image_concurrency: int = 2,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], UUID] = uuid.uuid4,
    ) -> None:
        self.storage = storage
        self.store = store
        self.max_image_pixels = max_image_pixels
        self._images = asyncio.Semaphore(image_concurrency)
        self.clock = clock
        self.new_id = new_id

    async def accept(self, received: ReceivedUpload, uploader_id: UUID) -> FileRecord:
        """Store `received` for `uploader_id`. The spool files are gone afterwards, whatever
        happens. Raises BadField (name, purpose), ImageTooLarge / BadImage, StorageUnavailable;
        a database failure propagates (the stored bytes are removed again first)."""
        produced: list[Path] = [received.path]
        try:
            # Both checked before any work (cheap, and nothing is stored for a bad request).
            name = choose_name(received.name, received.part_filename)
            purpose: Purpose = check_purpose(received.purpose)
            file_id = self.new_id()
            head = await asyncio.to_thread(_head, received.path)
            content_type = sniff_content_type(head)
            if purpose == "avatar" and content_type not in IMAGE_TYPES:
                raise BadField(
                    "file", "not_an_image", "An avatar must be a PNG, JPEG, GIF or WebP image."
                )
            stored = await self._prepare(received.path, content_type, file_id, produced)
            size, sha256 = await asyncio.to_thread(_size_and_sha256, stored.path)
            thumb_size = None
            if stored.thumb is not None:
                thumb_size = (await asyncio.to_thread(stored.thumb.stat)).st_size
            record = FileRecord(
                id=file_id,
                uploader_id=uploader_id,
                purpose=purpose,
                name=name,
                size=size,
                content_type=stored.content_type,
                sha256=sha256,
                width=stored.width,
                height=stored.height,
                has_thumbnail=stored.thumb is not None,
                thumbnail_size=thumb_size,
                thumbnail_content_type=stored.thumb_content_type,
                created_at=self.clock(),
            )
            await self._put(record, stored)
            try:
                await self.store.add(record, uploaded_event(record))
            except BaseException:
                await self._forget_bytes(record)
                raise
            log.info(
                "file_uploaded",
                file_id=str(file_id),
                purpose=purpose,
                size=size,
                content_type=record.content_type,
            )
            return record
        finally:
            await asyncio.to_thread(remove_quietly, *produced)

    async def _prepare(
        self, source: Path, content_type: str, file_id: UUID, produced: list[Path]
    ) -> _Stored:
        if content_type not in IMAGE_TYPES:
            return _Stored(source, content_type, None, None, None, None)
        out_image = source.with_name(f"{file_id.hex}.img")
        out_thumb = source.with_name(f"{file_id.hex}.thumb")
        produced += [out_image, out_thumb]
        async with self._images:
            result: ImageResult = await asyncio.to_thread(
                process_image,
                source,
                content_type,
                out_image,
                out_thumb,
                max_pixels=self.max_image_pixels,
            )
        thumb_head = await asyncio.to_thread(_head, out_thumb)
        return _Stored(
            out_image,
            result.content_type,
            result.width,
            result.height,
            out_thumb,
            sniff_content_type(thumb_head),
        )

    async def _put(self, record: FileRecord, stored: _Stored) -> None:
        try:
            await self.storage.put(content_key(str(record.id)), stored.path)
            if stored.thumb is not None:
                await self.storage.put(thumbnail_key(str(record.id)), stored.thumb)
        except Exception as exc:
            log.warning("file_store_failed", file_id=str(record.id), error=repr(exc)[:300])
            await self._forget_bytes(record)
            raise StorageUnavailable(str(exc)) from exc

    async def _forget_bytes(self, record: FileRecord) -> None:
        for key in (content_key(str(record.id)), thumbnail_key(str(record.id))):
            try:
                await self.storage.delete(key)
            except Exception as exc:  # the orphan has no row: nothing serves it
                log.warning("file_bytes_not_removed", key=key, error=repr(exc)[:300])


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(SNIFF_BYTES)


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
