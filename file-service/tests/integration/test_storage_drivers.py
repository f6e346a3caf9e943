"""One suite over both FileStorage drivers: local directory and S3 (moto in server mode)."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from file_service.storage import CHUNK_BYTES, FileStorage, content_key, thumbnail_key
from file_service.storage.factory import prepare_storage, storage_from
from file_service.storage.local import LocalStorage
from file_service.storage.s3 import S3Storage

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest_asyncio.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FileStorage]:
    if request.param == "local":
        built: FileStorage = LocalStorage(tmp_path / "files")
    else:
        env: dict[str, str] = request.getfixturevalue("s3_env")
        # 5 MiB parts (S3's minimum) so a multi-MB file goes up in several parts.
        built = S3Storage(
            endpoint_url=env["CHAT_S3_ENDPOINT"],
            bucket=env["CHAT_S3_BUCKET"],
            region=env["CHAT_S3_REGION"],
            access_key_id=env["CHAT_S3_ACCESS_KEY_ID"],
            secret_access_key=env["CHAT_S3_SECRET_ACCESS_KEY"],
            part_bytes=5 * MiB,
        )
    await prepare_storage(built)
    try:
        yield built
    finally:
        await built.close()


def spool(tmp_path: Path, data: bytes, name: str = "upload") -> Path:
    directory = tmp_path / "spool"
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path


async def read_all(storage: FileStorage, key: str, start: int = 0, end: int | None = None) -> bytes:
    chunks = [chunk async for chunk in storage.open_range(key, start, end)]
    assert all(0 < len(chunk) <= CHUNK_BYTES for chunk in chunks)
    return b"".join(chunks)


async def test_multi_megabyte_round_trip(storage: FileStorage, tmp_path: Path) -> None:
    data = os.urandom(11 * MiB + 12345)  # three parts on S3: 5 + 5 + 1.x MiB
    source = spool(tmp_path, data)
    key = content_key("0f1e2d3c-4b5a-4000-8000-000000000001")
    await storage.put(key, source)
    assert not source.exists()
    assert await storage.size(key) == len(data)
    stored = await read_all(storage, key)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    if isinstance(storage, S3Storage):  # it really went up in parts
        client = await storage._get_client()
        head = await client.head_object(Bucket=storage.bucket, Key=key)
        assert str(head["ETag"]).endswith('-3"')


async def test_small_and_empty_files(storage: FileStorage, tmp_path: Path) -> None:
    await storage.put("small-key", spool(tmp_path, b"hello"))
    assert await read_all(storage, "small-key") == b"hello"
    await storage.put("empty-key", spool(tmp_path, b""))
    assert await storage.size("empty-key") == 0
    assert await read_all(storage, "empty-key") == b""
    assert await read_all(storage, "empty-key", 0, 10) == b""


async def test_ranges(storage: FileStorage, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB: several chunks
    await storage.put("ranged", spool(tmp_path, data))
    assert await read_all(storage, "ranged", 0, 0) == data[:1]
    assert await read_all(storage, "ranged", 10, 19) == data[10:20]
    assert await read_all(storage, "ranged", 1000) == data[1000:]
    assert await read_all(storage, "ranged", 70_000, 200_000) == data[70_000:200_001]
    assert await read_all(storage, "ranged", len(data) - 1) == data[-1:]
    assert await read_all(storage, "ranged", len(data) - 5, len(data) + 1000) == data[-5:]
    assert await read_all(storage, "ranged", len(data)) == b""
    assert await read_all(storage, "ranged", len(data) + 10, len(data) + 20) == b""


async def test_invalid_ranges_are_refused(storage: FileStorage, tmp_path: Path) -> None:
    await storage.put("ranged", spool(tmp_path, b"0123456789"))
    with pytest.raises(ValueError, match="range"):
        await read_all(storage, "ranged", 5, 4)
    with pytest.raises(ValueError, match="range"):
        await read_all(storage, "ranged", -1)


async def test_put_replaces(storage: FileStorage, tmp_path: Path) -> None:
    await storage.put("replaced", spool(tmp_path, b"first version"))
    await storage.put("replaced", spool(tmp_path, b"second"))
    assert await read_all(storage, "replaced") == b"second"
    assert await storage.size("replaced") == 6


async def test_delete_and_missing_keys(storage: FileStorage, tmp_path: Path) -> None:
    key = thumbnail_key("0f1e2d3c-4b5a-4000-8000-000000000002")
    await storage.put(key, spool(tmp_path, b"thumb"))
    assert await storage.size(key) == 5
    await storage.delete(key)
    assert await storage.size(key) is None
    await storage.delete(key)  # missing is fine
    await storage.delete("never-there")
    assert await storage.size("never-there") is None
    with pytest.raises(FileNotFoundError):
        await read_all(storage, "never-there")
    with pytest.raises(FileNotFoundError):
        await read_all(storage, key, 3, 4)


async def test_content_and_thumbnail_keys_are_separate(
    storage: FileStorage, tmp_path: Path
) -> None:
    file_id = "0f1e2d3c-4b5a-4000-8000-000000000003"
    await storage.put(content_key(file_id), spool(tmp_path, b"content"))
    await storage.put(thumbnail_key(file_id), spool(tmp_path, b"thumb"))
    await storage.delete(thumbnail_key(file_id))
    assert await read_all(storage, content_key(file_id)) == b"content"


@pytest.mark.parametrize(
    "key", ["", "../etc/passwd", "a/b", "a\\b", "..", ".spool", "x..y", "line\nbreak", "a" * 201]
)
async def test_unsafe_keys_are_refused(storage: FileStorage, tmp_path: Path, key: str) -> None:
    source = spool(tmp_path, b"x")
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.put(key, source)
    assert source.exists()
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.size(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.delete(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        await read_all(storage, key)


def test_keys() -> None:
    assert content_key("abc-1") == "abc-1"
    assert thumbnail_key("abc-1") == "abc-1.thumb"
    with pytest.raises(ValueError, match="invalid storage key"):
        content_key("../x")


async def test_local_layout(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files")
    await storage.put("abcdef", spool(tmp_path, b"data"))
    assert (tmp_path / "files" / "ab" / "abcdef").read_bytes() == b"data"


async def test_local_put_across_filesystems_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace
    calls: list[str] = []

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(str(src))
        if len(calls) == 1:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    storage = LocalStorage(tmp_path / "files")
    data = os.urandom(3 * MiB)
    source = spool(tmp_path, data)
    await storage.put("copied", source)
    assert len(calls) == 2  # the failed move, then the rename of the copy
    assert not source.exists()
    assert await read_all(storage, "copied") == data
    leftovers = [p.name for p in (tmp_path / "files" / "co").iterdir()]
    assert leftovers == ["copied"]


async def test_s3_ensure_bucket_is_idempotent(s3_env: dict[str, str]) -> None:
    storage = storage_from(
        "s3",
        s3_endpoint=s3_env["CHAT_S3_ENDPOINT"],
        s3_bucket=s3_env["CHAT_S3_BUCKET"],
        s3_region=s3_env["CHAT_S3_REGION"],
        s3_access_key_id=s3_env["CHAT_S3_ACCESS_KEY_ID"],
        s3_secret_access_key=s3_env["CHAT_S3_SECRET_ACCESS_KEY"],
    )
    assert isinstance(storage, S3Storage)
    try:
        await storage.ensure_bucket()
        await storage.ensure_bucket()
        assert await storage.size("nothing") is None
    finally:
        await storage.close()
    assert "testing" not in repr(storage)


def test_factory(tmp_path: Path) -> None:
    local = storage_from("local", file_dir=tmp_path)
    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path
    with pytest.raises(ValueError, match="CHAT_FILE_DIR"):
        storage_from("local")
    with pytest.raises(ValueError, match="CHAT_S3_BUCKET"):
        storage_from("s3", s3_endpoint="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="CHAT_FILE_STORAGE"):
        storage_from("ftp")


async def test_keys_written_before_a_time_are_listed(storage: FileStorage, tmp_path: Path) -> None:
    """The sweep's scan for bytes without a row: every key written before the cutoff."""
    file_id = "0f1e2d3c-4b5a-4000-8000-00000000000a"
    await storage.put(content_key(file_id), spool(tmp_path, b"bytes"))
    await storage.put(thumbnail_key(file_id), spool(tmp_path, b"thumb", "thumb"))
    mine = {content_key(file_id), thumbnail_key(file_id)}
    soon = datetime.now(UTC) + timedelta(minutes=5)
    listed = {key async for key in storage.stored_before(soon)}
    assert mine <= listed
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert not mine & {key async for key in storage.stored_before(hour_ago)}
    if isinstance(storage, LocalStorage):
        # Only the two-character fan-out directories: never the spool beside them.
        (storage.root / ".spool").mkdir(exist_ok=True)
        (storage.root / ".spool" / "partial-upload").write_bytes(b"x")
        assert "partial-upload" not in {key async for key in storage.stored_before(soon)}
