"""The use cases' refusals as RFC 9457 problems (chat_runtime's `Problem`)."""

from __future__ import annotations

from chat_runtime.db import is_infrastructure_error
from chat_runtime.http import Problem
from chat_runtime.logging import get_logger
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError

from file_service.access import AccessUnavailable
from file_service.domain.filenames import BadField
from file_service.domain.images import BadImage, ImageTooLarge
from file_service.errors import BadUpload, FileTooLarge, NotFound, StorageUnavailable

log = get_logger(__name__)

NOT_FOUND_DETAIL = "There is no file here, or it is not shared with you."


def _mib(size: int) -> str:
    """25 MiB, 1.5 MiB, or plain bytes when the limit is no round number of MiB."""
    mib = size / (1024 * 1024)
    if mib >= 1 and round(mib, 1) == mib:
        return f"{mib:g} MiB"
    return f"{size:,} bytes"


def problem_of(exc: Exception) -> Problem:
    if isinstance(exc, FileTooLarge):
        return Problem(
            413,
            "file_too_large",
            f"The file is larger than the limit of {_mib(exc.max_bytes)}.",
            title="Payload too large",
        )
    if isinstance(exc, BadUpload):
        code = "unsupported_media_type" if exc.status == 415 else "bad_request"
        return Problem(exc.status, code, exc.detail)
    if isinstance(exc, BadField):
        return Problem(
            422,
            "validation_failed",
            exc.detail,
            errors=[{"field": exc.field, "code": exc.rule, "message": exc.detail}],
        )
    if isinstance(exc, ImageTooLarge):
        return Problem(422, "image_too_large", "The image has too many pixels to be accepted.")
    if isinstance(exc, BadImage):
        return Problem(422, "bad_image", "The file looks like an image but cannot be read.")
    if isinstance(exc, NotFound):
        return Problem(404, "not_found", NOT_FOUND_DETAIL)
    if isinstance(exc, AccessUnavailable):
        return Problem(
            503,
            "unavailable",
            "Who may see this file cannot be checked right now. Please try again soon.",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, StorageUnavailable):
        return Problem(
            503,
            "unavailable",
            "The file store cannot be reached right now. Please try again soon.",
            headers={"Retry-After": "1"},
        )
    if is_infrastructure_error(exc):
        log.warning("dependency_unavailable", error=repr(exc)[:300])
        return Problem(
            503,
            "unavailable",
            "The service cannot reach its database. Please try again soon.",
            headers={"Retry-After": "1"},
        )
    log.error("unexpected_error", exc_info=exc)
    return Problem(500, "internal", "Something went wrong on our side. Please try again.")


async def _handle(_: Request, exc: Exception) -> Response:
    response: Response = problem_of(exc).response()
    return response


def install_error_handlers(app: FastAPI) -> None:
    for kind in (
        FileTooLarge,
        BadUpload,
        BadField,
        ImageTooLarge,
        BadImage,
        NotFound,
        AccessUnavailable,
        StorageUnavailable,
        SQLAlchemyError,
        OSError,
    ):
        app.add_exception_handler(kind, _handle)
