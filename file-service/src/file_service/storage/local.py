"""Files in a local directory: <root>/<first 2 chars of key>/<key>."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from file_service.storage import CHUNK_BYTES, check_key

__all__ = ["LocalStorage"]


class LocalStorage:
    """FileStorage on a local directory (CHAT_FILE_STORAGE=local, root CHAT_FILE_DIR)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key

    async def ensure_root(self) -> None:
        """Create the root directory (used at start)."""
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def put(self, key: str, source: Path) -> None:
        target = self.path_of(key)
        await asyncio.to_thread(_move_in, Path(source), target)

    async def open_range(
        self, key: str, start: int = 0, end_inclusive: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        if start < 0 or (end_inclusive is not None and end_inclusive < start):
            raise ValueError("invalid byte range")
        handle = await asyncio.to_thread(_open_read, path)
        try:
            size = os.fstat(handle.fileno()).st_size
            stop = size if end_inclusive is None else min(end_inclusive + 1, size)
            if start >= stop:
                return
            await asyncio.to_thread(handle.seek, start)
            remaining = stop - start
            while remaining > 0:
                chunk = await asyncio.to_thread(handle.read, min(CHUNK_BYTES, remaining))
                if not chunk:
                    break  # the file shrank meanwhile (keys are replaced whole, not truncated)
                remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def size(self, key: str) -> int | None:
        path = self.path_of(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            return None
        return stat.st_size

    async def stored_before(self, cutoff: datetime) -> AsyncIterator[str]:
        # One fan-out directory at a time, so a large store is never listed into memory whole.
        limit = cutoff.timestamp()
        for directory in await asyncio.to_thread(_fan_out_dirs, self.root):
            for key in await asyncio.to_thread(_written_before, directory, limit):
                yield key

    async def close(self) -> None:
        return None


def _fan_out_dirs(root: Path) -> list[Path]:
    """The two-character directories keys live in (not the spool, `.spool`)."""
    if not root.is_dir():
        return []
    return [d for d in root.iterdir() if len(d.name) == 2 and not d.name.startswith(".")]


def _written_before(directory: Path, limit: float) -> list[str]:
    with os.scandir(directory) as entries:
        return [
            e.name
            for e in entries
            if e.is_file(follow_symlinks=False) and e.stat(follow_symlinks=False).st_mtime < limit
        ]


def _open_read(path: Path) -> BinaryIO:
    return path.open("rb")


def _move_in(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    # Another filesystem: copy next to the target, make it durable, rename over, drop the source.
    fd, tmp_name = tempfile.mkstemp(prefix=".put-", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    source.unlink(missing_ok=True)
