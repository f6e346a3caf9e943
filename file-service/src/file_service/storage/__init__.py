"""Where file bytes live: one interface, two drivers (local directory, S3).

Keys are `<id>` for a file's bytes and `<id>.thumb` for its thumbnail; they carry NO extension
(the content type lives in the database row, never in a name a server might guess from).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

__all__ = [
    "CHUNK_BYTES",
    "FileStorage",
    "check_key",
    "content_key",
    "file_id_of",
    "thumbnail_key",
]

# Size of the chunks open_range yields.
CHUNK_BYTES = 64 * 1024

_THUMB_SUFFIX = ".thumb"


def content_key(file_id: str) -> str:
    """Key of a file's stored bytes."""
    return check_key(file_id)


def thumbnail_key(file_id: str) -> str:
    """Key of a file's thumbnail."""
    return check_key(file_id + _THUMB_SUFFIX)


def file_id_of(key: str) -> uuid.UUID | None:
    """The file a key belongs to (`<id>` or `<id>.thumb`); None for any other name, which is
    not ours and never touched."""
    name = key.removesuffix(_THUMB_SUFFIX)
    try:
        file_id = uuid.UUID(name)
    except ValueError:
        return None
    return file_id if str(file_id) == name else None


def check_key(key: str) -> str:
    """Return `key` when it is a safe storage key, else raise ValueError.

    A key is one path segment: not empty, no "/" or "\\", no "..", no leading ".", no control
    characters (so it can never leave the storage root or hit the spool directory).
    """
    if (
        not key
        or len(key) > 200
        or "/" in key
        or "\\" in key
        or ".." in key
        or key.startswith(".")
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key)
    ):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class FileStorage(Protocol):
    """The bytes of files and thumbnails, by key."""

    async def put(self, key: str, source: Path) -> None:
        """Move (or copy, then remove) the finished spool file `source` in under `key`,
        replacing what was there. `source` no longer exists afterwards."""
        ...

    def open_range(
        self, key: str, start: int = 0, end_inclusive: int | None = None
    ) -> AsyncIterator[bytes]:
        """Chunks (about CHUNK_BYTES each) of the bytes start..end_inclusive (None: to the end;
        an end past the last byte is clamped; a start at or past the end yields nothing).
        Raises FileNotFoundError on the first iteration when the key does not exist."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the key; a missing key is fine."""
        ...

    async def size(self, key: str) -> int | None:
        """Size in bytes, None when the key does not exist."""
        ...

    def stored_before(self, cutoff: datetime) -> AsyncIterator[str]:
        """Every key last written before `cutoff` (aware), in no particular order: the sweep's
        scan for bytes whose row was never committed."""
        ...

    async def close(self) -> None:
        """Release connections (the object is not used afterwards)."""
        ...
