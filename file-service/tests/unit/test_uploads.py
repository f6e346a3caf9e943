"""Receiving a multipart body into the spool, and the upload use case over in-memory fakes."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chat_contracts import names, types
from file_service.domain.filenames import BadField
from file_service.domain.images import ImageTooLarge
from file_service.errors import BadUpload, FileTooLarge, StorageUnavailable
from file_service.spool import ReceivedUpload, clean_spool, receive_upload
from file_service.storage import content_key, thumbnail_key
from file_service.uploads import Uploads
from PIL import Image

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from fakes import MemoryStorage, MemoryStore

pytestmark = pytest.mark.unit

BOUNDARY = "xyzzy"
HEADERS = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_receive_file_and_fields(tmp_path: Path) -> None:
    content = os.urandom(5000)
    data = body(
        part("name", "résumé.pdf".encode()),
        part("file", content, "x.bin"),
        part("purpose", b"avatar"),
    )
    received = await receive_upload(HEADERS, chunks(data), tmp_path, max_bytes=10_000)
    assert received.path.read_bytes() == content
    assert received.size == len(content)
    assert received.part_filename == "x.bin"
    assert received.name == "résumé.pdf"
    assert received.purpose == "avatar"


async def test_too_large_stops_and_removes_the_spool(tmp_path: Path) -> None:
    data = body(part("file", b"a" * 20_000, "x.bin"))
    with pytest.raises(FileTooLarge):
        await receive_upload(HEADERS, chunks(data), tmp_path, max_bytes=10_000)
    assert list(tmp_path.iterdir()) == []


async def test_declared_length_refused_up_front(tmp_path: Path) -> None:
    headers = {**HEADERS, "content-length": str(10**9)}

    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("read")
        yield b""

    with pytest.raises(FileTooLarge):
        await receive_upload(headers, never(), tmp_path, max_bytes=10_000)


async def test_missing_file_part(tmp_path: Path) -> None:
    with pytest.raises(BadField) as caught:
        await receive_upload(HEADERS, chunks(body(part("name", b"x"))), tmp_path, max_bytes=100)
    assert caught.value.field == "file"


async def test_two_file_parts(tmp_path: Path) -> None:
    data = body(part("file", b"one", "a"), part("file", b"two", "b"))
    with pytest.raises(BadField):
        await receive_upload(HEADERS, chunks(data), tmp_path, max_bytes=100)
    assert list(tmp_path.iterdir()) == []


async def test_not_multipart(tmp_path: Path) -> None:
    with pytest.raises(BadUpload) as caught:
        await receive_upload(
            {"content-type": "application/json"}, chunks(b"{}"), tmp_path, max_bytes=100
        )
    assert caught.value.status == 415


async def test_truncated_body(tmp_path: Path) -> None:
    data = part("file", b"abc" * 100, "a")[:-50]
    with pytest.raises(BadUpload):
        await receive_upload(HEADERS, chunks(data), tmp_path, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


async def test_long_name_field(tmp_path: Path) -> None:
    data = body(part("name", b"n" * 10_000), part("file", b"x", "a"))
    with pytest.raises(BadField):
        await receive_upload(HEADERS, chunks(data), tmp_path, max_bytes=1000)


def test_clean_spool_removes_only_old_files(tmp_path: Path) -> None:
    old, new = tmp_path / "old.part", tmp_path / "new.part"
    old.write_bytes(b"o")
    new.write_bytes(b"n")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert clean_spool(tmp_path, 3600) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["new.part"]


# --- the use case -------------------------------------------------------------------------


def spooled(tmp_path: Path, content: bytes, **fields: str | None) -> ReceivedUpload:
    path = tmp_path / f"{uuid.uuid4().hex}.part"
    path.write_bytes(content)
    return ReceivedUpload(
        path=path,
        size=len(content),
        part_filename=fields.get("filename", "a.bin"),
        name=fields.get("name"),
        purpose=fields.get("purpose"),
    )


def uploads(storage: MemoryStorage, store: MemoryStore) -> Uploads:
    return Uploads(storage, store, max_image_pixels=1_000_000, clock=lambda: NOW)


async def test_accept_stores_bytes_row_and_event(tmp_path: Path) -> None:
    storage, store = MemoryStorage(), MemoryStore()
    user = uuid.uuid4()
    record = await uploads(storage, store).accept(spooled(tmp_path, b"plain text\n"), user)
    assert record.content_type == "text/plain"
    assert record.name == "a.bin"
    assert record.purpose == "attachment"
    assert record.sha256 == hashlib.sha256(b"plain text\n").hexdigest()
    assert storage.blobs == {content_key(str(record.id)): b"plain text\n"}
    assert store.records[record.id] == record
    (event,) = store.events
    assert event.routing_key == names.FILE_UPLOADED_V1
    assert isinstance(event.body, types.FileUploadedV1)
    assert event.body.file.id == str(record.id)
    assert list(tmp_path.iterdir()) == []


async def test_accept_image_makes_thumbnail(tmp_path: Path) -> None:
    storage, store = MemoryStorage(), MemoryStore()
    out = io.BytesIO()
    Image.new("RGBA", (900, 300), (0, 0, 0, 0)).save(out, "PNG")
    record = await uploads(storage, store).accept(
        spooled(tmp_path, out.getvalue(), purpose="avatar"), uuid.uuid4()
    )
    assert (record.width, record.height, record.has_thumbnail) == (900, 300, True)
    assert record.thumbnail_content_type == "image/png"  # it has transparency
    stored = storage.blobs[content_key(str(record.id))]
    assert record.sha256 == hashlib.sha256(stored).hexdigest()
    assert record.thumbnail_size == len(storage.blobs[thumbnail_key(str(record.id))])
    assert list(tmp_path.iterdir()) == []


async def test_refusals_keep_nothing(tmp_path: Path) -> None:
    storage, store = MemoryStorage(), MemoryStore()
    out = io.BytesIO()
    Image.new("1", (2000, 2000)).save(out, "PNG")
    with pytest.raises(ImageTooLarge):
        await uploads(storage, store).accept(spooled(tmp_path, out.getvalue()), uuid.uuid4())
    with pytest.raises(BadField):
        await uploads(storage, store).accept(
            spooled(tmp_path, b"x", purpose="banner"), uuid.uuid4()
        )
    assert (storage.blobs, store.records) == ({}, {})
    assert list(tmp_path.iterdir()) == []


async def test_database_failure_removes_stored_bytes(tmp_path: Path) -> None:
    storage, store = MemoryStorage(), MemoryStore(fail_add=True)
    with pytest.raises(ConnectionError):
        await uploads(storage, store).accept(spooled(tmp_path, b"x"), uuid.uuid4())
    assert storage.blobs == {}
    assert list(tmp_path.iterdir()) == []


async def test_storage_failure_is_unavailable(tmp_path: Path) -> None:
    storage, store = MemoryStorage(fail_put=True), MemoryStore()
    with pytest.raises(StorageUnavailable):
        await uploads(storage, store).accept(spooled(tmp_path, b"x"), uuid.uuid4())
    assert store.records == {}
    assert list(tmp_path.iterdir()) == []


async def test_avatar_must_be_an_image(tmp_path: Path) -> None:
    storage, store = MemoryStorage(), MemoryStore()
    with pytest.raises(BadField) as caught:
        await uploads(storage, store).accept(
            spooled(tmp_path, b"not an image", purpose="avatar"), uuid.uuid4()
        )
    assert caught.value.field == "file"
    assert (storage.blobs, store.records) == ({}, {})
    assert list(tmp_path.iterdir()) == []
