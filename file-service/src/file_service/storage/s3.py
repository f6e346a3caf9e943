"""Files in an S3 bucket (CHAT_FILE_STORAGE=s3), on aiobotocore.

One session and one client, created on first use and reused until close(). Uploads go from the
spool file in parts (never the whole file in memory); reads are ranged GETs streamed in chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

# aiobotocore / botocore ship no type information (no py.typed, no stubs in the lock): the
# client is `Any` at this boundary and every value read from its answers is checked here.
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from file_service.storage import CHUNK_BYTES, check_key

__all__ = ["DEFAULT_PART_BYTES", "S3Storage"]

# S3 parts are at least 5 MiB (except the last); 8 MiB keeps memory small and parts few.
DEFAULT_PART_BYTES = 8 * 1024 * 1024
_MIN_PART_BYTES = 5 * 1024 * 1024

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


def _error_code(exc: ClientError) -> str:
    error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
    return str(error.get("Code", ""))


def _status(exc: ClientError) -> int:
    meta = exc.response.get("ResponseMetadata", {}) if isinstance(exc.response, dict) else {}
    try:
        return int(meta.get("HTTPStatusCode", 0))
    except (TypeError, ValueError):
        return 0


def _is_missing(exc: ClientError) -> bool:
    return _error_code(exc) in _MISSING_CODES or _status(exc) == 404


class S3Storage:
    """FileStorage on an S3-compatible bucket (path-style addressing, so MinIO/moto work)."""

    def __init__(
        self,
        endpoint_url: str | None,
        bucket: str,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        *,
        part_bytes: int = DEFAULT_PART_BYTES,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        if part_bytes < _MIN_PART_BYTES:
            raise ValueError("S3 parts are at least 5 MiB")
        self.endpoint_url = endpoint_url or None
        self.bucket = bucket
        self.region = region or "us-east-1"
        self._access_key_id = access_key_id or None
        self._secret_access_key = secret_access_key or None
        self.part_bytes = part_bytes
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"S3Storage(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r})"

    async def _get_client(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                session = get_session()
                config = AioConfig(
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=60,
                    # Downloads hold a connection while they stream.
                    max_pool_connections=64,
                    # Plain signed requests: no aws-chunked checksum trailers, which some
                    # S3-compatible servers do not understand.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                client = await stack.enter_async_context(
                    session.create_client(
                        "s3",
                        endpoint_url=self.endpoint_url,
                        region_name=self.region,
                        aws_access_key_id=self._access_key_id,
                        aws_secret_access_key=self._secret_access_key,
                        config=config,
                    )
                )
                self._stack = stack
                self._client = client
        return self._client

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (used at start)."""
        client = await self._get_client()
        try:
            await client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if not _is_missing(exc):
                raise
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await client.create_bucket(**params)
        except ClientError as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    async def put(self, key: str, source: Path) -> None:
        check_key(key)
        source = Path(source)
        client = await self._get_client()
        handle = await asyncio.to_thread(_open_read, source)
        try:
            first = await asyncio.to_thread(handle.read, self.part_bytes)
            second = await asyncio.to_thread(handle.read, self.part_bytes) if first else b""
            if not second:
                await client.put_object(Bucket=self.bucket, Key=key, Body=first)
            else:
                await self._put_multipart(client, key, handle, first, second)
        finally:
            handle.close()
        await asyncio.to_thread(source.unlink, missing_ok=True)

    async def _put_multipart(
        self, client: Any, key: str, handle: BinaryIO, first: bytes, second: bytes
    ) -> None:
        created = await client.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = str(created["UploadId"])
        parts: list[dict[str, Any]] = []
        try:
            number = 1
            body = first
            while body:
                answer = await client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                number += 1
                if second:
                    body, second = second, b""
                else:
                    body = await asyncio.to_thread(handle.read, self.part_bytes)
            await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                )
            raise

    async def open_range(
        self, key: str, start: int = 0, end_inclusive: int | None = None
    ) -> AsyncIterator[bytes]:
        check_key(key)
        if start < 0 or (end_inclusive is not None and end_inclusive < start):
            raise ValueError("invalid byte range")
        client = await self._get_client()
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start > 0 or end_inclusive is not None:
            end = "" if end_inclusive is None else str(end_inclusive)
            params["Range"] = f"bytes={start}-{end}"
        try:
            answer = await client.get_object(**params)
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            if _error_code(exc) == "InvalidRange" or _status(exc) == 416:
                return  # start at or past the end (the object exists: 416 comes after 404)
            raise
        async with answer["Body"] as body:
            while True:
                chunk = await body.read(CHUNK_BYTES)
                if not chunk:
                    break
                yield bytes(chunk)

    async def delete(self, key: str) -> None:
        check_key(key)
        client = await self._get_client()
        try:
            await client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if not _is_missing(exc):
                raise

    async def size(self, key: str) -> int | None:
        check_key(key)
        client = await self._get_client()
        try:
            answer = await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        return int(answer["ContentLength"])

    async def stored_before(self, cutoff: datetime) -> AsyncIterator[str]:
        client = await self._get_client()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        async for page in pages:
            for item in page.get("Contents", []):
                if item["LastModified"] < cutoff:
                    yield str(item["Key"])

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()


def _open_read(path: Path) -> BinaryIO:
    return path.open("rb")
