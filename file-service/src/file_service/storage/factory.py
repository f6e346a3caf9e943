"""Build the configured FileStorage from plain setting values (the settings object maps
CHAT_FILE_STORAGE, CHAT_FILE_DIR and CHAT_S3_* onto these arguments)."""

from __future__ import annotations

from pathlib import Path

from file_service.storage import FileStorage
from file_service.storage.local import LocalStorage
from file_service.storage.s3 import S3Storage

__all__ = ["STORAGE_KINDS", "prepare_storage", "storage_from"]

STORAGE_KINDS = ("local", "s3")


def storage_from(
    kind: str,
    *,
    file_dir: Path | str | None = None,
    s3_endpoint: str | None = None,
    s3_bucket: str | None = None,
    s3_region: str = "us-east-1",
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
) -> FileStorage:
    """`kind` "local" (CHAT_FILE_STORAGE=local: needs file_dir = CHAT_FILE_DIR) or "s3" (needs
    s3_bucket; s3_endpoint None means AWS itself). Raises ValueError for anything else."""
    if kind == "local":
        if file_dir is None or str(file_dir) == "":
            raise ValueError("CHAT_FILE_DIR is required for local file storage")
        return LocalStorage(Path(file_dir))
    if kind == "s3":
        if not s3_bucket:
            raise ValueError("CHAT_S3_BUCKET is required for s3 file storage")
        return S3Storage(
            endpoint_url=s3_endpoint or None,
            bucket=s3_bucket,
            region=s3_region or "us-east-1",
            access_key_id=s3_access_key_id or None,
            secret_access_key=s3_secret_access_key or None,
        )
    raise ValueError(f"CHAT_FILE_STORAGE must be one of {', '.join(STORAGE_KINDS)}, not {kind!r}")


async def prepare_storage(storage: FileStorage) -> None:
    """Run once at start: create the local root directory, or the S3 bucket when missing."""
    if isinstance(storage, LocalStorage):
        await storage.ensure_root()
    elif isinstance(storage, S3Storage):
        await storage.ensure_bucket()
