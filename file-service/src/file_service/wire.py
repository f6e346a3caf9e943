"""The api-v1.1 `file` object of a stored file: on the bus without links, in REST answers with
links signed for the caller (DESIGN §2, §3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import msgspec
from chat_contracts import types
from chat_runtime.file_links import sign_file_links

from file_service.store import FileRecord


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def file_struct(record: FileRecord) -> types.File:
    """The `file` of `file.uploaded.v1` (no url fields: the bus reaches many users)."""
    return types.File(
        id=str(record.id),
        name=record.name,
        size=record.size,
        content_type=record.content_type,
        sha256=record.sha256,
        width=record.width,
        height=record.height,
        has_thumbnail=record.has_thumbnail,
        purpose=cast(Any, record.purpose),
        created_at=rfc3339(record.created_at),
        uploader_id=str(record.uploader_id),
    )


def signed_file(record: FileRecord, link_key: str, user_id: UUID) -> dict[str, Any]:
    """The `file` of a REST answer: with `url` and `thumbnail_url` signed for `user_id`."""
    url, thumbnail_url = sign_file_links(
        link_key, str(record.id), str(user_id), record.has_thumbnail
    )
    body: dict[str, Any] = msgspec.to_builtins(file_struct(record))
    body["url"] = url
    body["thumbnail_url"] = thumbnail_url
    return body
