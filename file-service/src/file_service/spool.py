"""Receiving an upload: the multipart body streamed into a spool file (never whole in memory),
its size counted as it arrives (DESIGN §4), and the spool's cleanup.

The spool file is named by a random id and is only ever read by this process; a process killed
mid-upload leaves a file that nothing serves (no row points at it) and that the next start
removes once it is older than `file_spool_max_age_s`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streaming_form_data import StreamingFormDataParser  # type: ignore[import-untyped]
from streaming_form_data.parser import ParseFailedException  # type: ignore[import-untyped]
from streaming_form_data.targets import FileTarget, ValueTarget  # type: ignore[import-untyped]

from file_service.domain.filenames import BadField
from file_service.errors import BadUpload, FileTooLarge

# Room for the multipart framing and the small fields around the file part.
FORM_OVERHEAD_BYTES = 64 * 1024
# The text fields are short; longer values are refused rather than buffered.
MAX_NAME_FIELD_BYTES = 4 * 1024
MAX_PURPOSE_FIELD_BYTES = 64
# Chunks are handed to the parser (which writes the file) in a worker thread in batches of
# about this many bytes: file writes never block the event loop, and few thread hops.
FEED_BYTES = 256 * 1024
SPOOL_SUFFIX = ".part"


@dataclass(frozen=True, slots=True)
class ReceivedUpload:
    """A complete upload in the spool (the caller removes `path`)."""

    path: Path
    size: int
    part_filename: str | None
    name: str | None  # the `name` field, when sent
    purpose: str | None  # the `purpose` field, when sent


class _SpoolTarget(FileTarget):  # type: ignore[misc]
    """The `file` part into the spool file, counted; one `file` part only."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        super().__init__(str(path), allow_overwrite=False)
        self.max_bytes = max_bytes
        self.size = 0
        self.parts = 0
        self.done = False

    def on_start(self) -> None:
        self.parts += 1
        if self.parts > 1:
            raise BadField("file", "duplicate", "Send exactly one file part.")
        super().on_start()

    def on_data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise FileTooLarge(self.max_bytes)
        super().on_data_received(chunk)

    def on_finish(self) -> None:
        super().on_finish()
        self.done = True

    def close(self) -> None:
        fd: Any = getattr(self, "_fd", None)
        if fd is not None and not fd.closed:
            fd.close()


def _limited(field: str, limit: int) -> Any:
    seen = [0]

    def validate(chunk: bytes) -> None:
        seen[0] += len(chunk)
        if seen[0] > limit:
            raise BadField(field, "too_long", f"The {field} field is too long.")

    return validate


def _text(target: Any, field: str) -> str | None:
    if not getattr(target, "_started", False):
        return None
    raw: bytes = target.value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadField(field, "encoding", f"The {field} field must be UTF-8 text.") from exc


def new_spool_path(spool_dir: Path) -> Path:
    return spool_dir / f"{uuid.uuid4().hex}{SPOOL_SUFFIX}"


async def receive_upload(
    headers: Mapping[str, str],
    body: AsyncIterator[bytes],
    spool_dir: Path,
    *,
    max_bytes: int,
) -> ReceivedUpload:
    """Parse the multipart `body` (the request's headers give the boundary) into a new spool
    file. Raises FileTooLarge as soon as the file part (or the whole body) passes `max_bytes`
    (reading stops; the spool file is removed), BadUpload for a body that is not multipart or
    is malformed, BadField for a missing file part or unusable text fields."""
    declared = headers.get("content-length")
    limit = max_bytes + FORM_OVERHEAD_BYTES
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise FileTooLarge(max_bytes)  # known before reading a byte
    try:
        parser = StreamingFormDataParser(headers=dict(headers))
    except ParseFailedException as exc:
        raise BadUpload(415, "Send the file as multipart/form-data.") from exc
    path = new_spool_path(spool_dir)
    target = _SpoolTarget(path, max_bytes)
    name = ValueTarget(validator=_limited("name", MAX_NAME_FIELD_BYTES))
    purpose = ValueTarget(validator=_limited("purpose", MAX_PURPOSE_FIELD_BYTES))
    parser.register("file", target)
    parser.register("name", name)
    parser.register("purpose", purpose)
    received = 0
    pending: list[bytes] = []
    pending_bytes = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > limit:
                raise FileTooLarge(max_bytes)
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes >= FEED_BYTES:
                await _feed(parser, b"".join(pending))
                pending, pending_bytes = [], 0
        if pending:
            await _feed(parser, b"".join(pending))
        target.close()
        if target.parts == 0:
            raise BadField("file", "required", "Send the file in a part named 'file'.")
        if not target.done:
            raise BadUpload(400, "The upload ended before the file part was complete.")
        return ReceivedUpload(
            path=path,
            size=target.size,
            part_filename=target.multipart_filename,
            name=_text(name, "name"),
            purpose=_text(purpose, "purpose"),
        )
    except BaseException:
        target.close()
        await asyncio.to_thread(remove_quietly, path)
        raise


async def _feed(parser: Any, data: bytes) -> None:
    try:
        await asyncio.to_thread(parser.data_received, data)
    except ParseFailedException as exc:
        raise BadUpload(400, "The multipart body is malformed.") from exc


def remove_quietly(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def clean_spool(spool_dir: Path, max_age_s: float, now: float | None = None) -> int:
    """Remove spool files older than `max_age_s` (left by a process that died mid-upload);
    returns how many. Creates the directory when missing."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = 0
    with os.scandir(spool_dir) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
    return removed
