"""`/v1/files` (api-v1.1 E): upload, the batch of links, downloads. Thin: the work is in
`spool.py`, `uploads.py` and `downloads.py`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from chat_runtime.http import Problem, rate_limit
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.requests import ClientDisconnect

from file_service.api.deps import (
    AttachmentsFeature,
    CallerId,
    Deps,
    DownloadCaller,
    UploadLimit,
    parse_file_id,
)
from file_service.downloads import Download
from file_service.spool import receive_upload
from file_service.wire import signed_file

router = APIRouter(prefix="/v1/files", tags=["files"], dependencies=[AttachmentsFeature])

MAX_IDS = 100
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "name": {"type": "string", "maxLength": 255},
                    "purpose": {"type": "string", "enum": ["attachment", "avatar"]},
                },
            }
        }
    },
}


@router.post(
    "",
    status_code=201,
    dependencies=[UploadLimit],
    responses={**rate_limit.RATE_LIMITED_RESPONSE},
    # The body is streamed, not a FastAPI form: documented here (tests/fuzz sends it).
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def upload(request: Request, caller: CallerId, deps: Deps) -> Response:
    """multipart/form-data: `file` (required), `name`, `purpose` -> 201 {"file"}."""
    try:
        received = await receive_upload(
            request.headers,
            request.stream(),
            deps.settings.spool_dir,
            max_bytes=deps.settings.file_max_bytes,
        )
    except ClientDisconnect:
        # The client went away mid-upload (or the body limit answered already): nothing kept.
        return Response(status_code=400)
    record = await deps.uploads.accept(received, caller)
    body = {"file": signed_file(record, deps.settings.link_key, caller)}
    return JSONResponse(body, status_code=201)


@router.get("")
async def files(
    caller: CallerId, deps: Deps, ids: Annotated[str | None, Query()] = None
) -> Response:
    """`?ids=a,b,...` (at most 100) -> {"files": [...]}: those the caller may read, with fresh
    links (clients refresh links and resolve avatars with it)."""
    wanted = _ids(ids)
    records = await deps.downloads.readable_many(wanted, caller)
    body = {"files": [signed_file(r, deps.settings.link_key, caller) for r in records]}
    return JSONResponse(body)


@router.get("/{file_id}")
async def download(
    file_id: str,
    request: Request,
    caller: DownloadCaller,
    deps: Deps,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    return await _bytes(file_id, request, caller, deps, range_, thumbnail=False)


@router.get("/{file_id}/thumbnail")
async def thumbnail(
    file_id: str,
    request: Request,
    caller: DownloadCaller,
    deps: Deps,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    return await _bytes(file_id, request, caller, deps, range_, thumbnail=True)


async def _bytes(
    file_id: str,
    request: Request,
    caller: DownloadCaller,
    deps: Deps,
    range_header: str | None,
    *,
    thumbnail: bool,
) -> Response:
    record = await deps.downloads.readable(parse_file_id(file_id), caller)
    found: Download = await deps.downloads.open(
        record,
        thumbnail=thumbnail,
        range_header=range_header,
        if_range=request.headers.get("if-range"),
        if_none_match=request.headers.get("if-none-match"),
    )
    if found.status == 416:
        raise Problem(
            416,
            "range_not_satisfiable",
            "The requested range starts past the end of the file.",
            title="Range not satisfiable",
            headers=found.headers,
        )
    if found.body is None:
        return Response(status_code=found.status, headers=found.headers)
    return StreamingResponse(found.body, status_code=found.status, headers=found.headers)


def _ids(value: str | None) -> list[UUID]:
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    if not items:
        raise _bad_ids("Give the file ids as ids=<id>,<id>,...")
    if len(items) > MAX_IDS:
        raise _bad_ids(f"At most {MAX_IDS} ids at a time.")
    wanted: list[UUID] = []
    for item in items:
        try:
            file_id = UUID(item)
        except ValueError as exc:
            raise _bad_ids(f"{item[:40]!r} is not a file id.") from exc
        if file_id not in wanted:
            wanted.append(file_id)
    return wanted


def _bad_ids(detail: str) -> Problem:
    return Problem(
        422,
        "validation_failed",
        detail,
        errors=[{"field": "ids", "code": "invalid", "message": detail}],
    )
