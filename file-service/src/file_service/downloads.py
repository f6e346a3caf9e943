"""The download use cases (api-v1.1 E, DESIGN §4): which files a caller may read, and the
bytes of one (whole, a range, or the thumbnail) streamed from the storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from chat_runtime.logging import get_logger

from file_service.access import FileAccess
from file_service.domain.headers import byte_response_headers
from file_service.domain.ranges import ByteRange, Unsatisfiable, parse_range
from file_service.errors import NotFound, StorageUnavailable
from file_service.storage import FileStorage, content_key, thumbnail_key
from file_service.store import FileRecord

log = get_logger(__name__)


class FileReader(Protocol):
    async def get(self, file_id: UUID) -> FileRecord | None: ...

    async def get_many(self, file_ids: Sequence[UUID]) -> list[FileRecord]: ...


@dataclass(slots=True)
class Download:
    """A 200/206 with `body`, a 304 or a 416 (no body)."""

    status: int
    headers: dict[str, str]
    body: AsyncIterator[bytes] | None = field(default=None)


class Downloads:
    def __init__(self, store: FileReader, storage: FileStorage, access: FileAccess) -> None:
        self.store = store
        self.storage = storage
        self.access = access

    async def readable(self, file_id: UUID, user_id: UUID) -> FileRecord:
        """The file, when `user_id` may read it; NotFound otherwise (whether or not it
        exists); AccessUnavailable when message-service cannot say."""
        record = await self.store.get(file_id)
        if record is None or not await self.access.may_read(record, user_id):
            raise NotFound()
        return record

    async def readable_many(self, file_ids: Sequence[UUID], user_id: UUID) -> list[FileRecord]:
        """Those of `file_ids` the caller may read, in the order asked (the questions to
        message-service, one per attachment of someone else, go out together; any unanswered
        one makes the whole answer AccessUnavailable)."""
        records = await self.store.get_many(file_ids)
        allowed = await asyncio.gather(*(self.access.may_read(r, user_id) for r in records))
        return [record for record, ok in zip(records, allowed, strict=True) if ok]

    async def open(
        self,
        record: FileRecord,
        *,
        thumbnail: bool,
        range_header: str | None,
        if_range: str | None = None,
        if_none_match: str | None = None,
    ) -> Download:
        if thumbnail:
            if not record.has_thumbnail:
                raise NotFound()
            key = thumbnail_key(str(record.id))
            size = record.thumbnail_size
            content_type = record.thumbnail_content_type or "application/octet-stream"
            etag_value = f"{record.sha256}-thumb"
        else:
            key = content_key(str(record.id))
            size = record.size
            content_type = record.content_type
            etag_value = record.sha256
        if size is None:
            size = await self.storage.size(key)
            if size is None:
                raise NotFound()
        etag = f'"{etag_value}"'
        whole = byte_response_headers(content_type, record.name, size, etag_value, range_=None)
        if if_none_match is not None and _matches(if_none_match, etag):
            kept = {
                k: v for k, v in whole.items() if k in ("ETag", "Cache-Control", "Accept-Ranges")
            }
            return Download(304, kept)
        wanted = parse_range(range_header, size)
        if if_range is not None and if_range.strip() != etag:
            wanted = None  # the client's copy is another version: send it whole
        if isinstance(wanted, Unsatisfiable):
            headers = {
                k: v
                for k, v in whole.items()
                if k in ("X-Content-Type-Options", "Content-Security-Policy", "Accept-Ranges")
            }
            headers["Content-Range"] = wanted.content_range()
            return Download(416, headers)
        if isinstance(wanted, ByteRange):
            headers = byte_response_headers(
                content_type, record.name, size, etag_value, range_=wanted
            )
            body = await self._primed(key, wanted.start, wanted.end)
            return Download(206, headers, body)
        return Download(200, whole, await self._primed(key, 0, None))

    async def _primed(self, key: str, start: int, end: int | None) -> AsyncIterator[bytes]:
        """The storage's chunks, the first already read: a missing key is a 404 and a broken
        storage a 503 before the status line goes out, not a cut response."""
        chunks = self.storage.open_range(key, start, end)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = b""
        except FileNotFoundError as exc:
            log.warning("file_bytes_missing", key=key)
            raise NotFound() from exc
        except Exception as exc:
            log.warning("file_read_failed", key=key, error=repr(exc)[:300])
            raise StorageUnavailable(str(exc)) from exc

        async def stream() -> AsyncIterator[bytes]:
            try:
                if first:
                    yield first
                async for chunk in chunks:
                    yield chunk
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    await close()

        return stream()


def _matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags
