"""Exception handlers: every error a route lets escape answers as a problem."""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from chat_runtime.http.problems import CODES, DETAILS, TITLES, Problem
from chat_runtime.http.validation import validation_problem
from chat_runtime.infrastructure import is_infrastructure_error
from chat_runtime.logging import get_logger

log = get_logger("chat_runtime.http")


async def _validation_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(list(exc.errors())).response()


async def _http_exception_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
    generic = {"Not Found", "Method Not Allowed", TITLES.get(status)}
    if detail is None or detail in generic:
        detail = DETAILS.get(status, TITLES.get(status, "The request failed."))
    return Problem(
        status, CODES.get(status, "error"), detail, headers=dict(exc.headers or {})
    ).response()


async def _problem_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


def _is_data_error(exc: BaseException) -> bool:
    # Without importing SQLAlchemy (the gateway has no database): an exception of its class
    # exists only once the module is loaded.
    module = sys.modules.get("sqlalchemy.exc")
    if module is None or not isinstance(exc, module.DBAPIError):
        return False
    if isinstance(exc, module.DataError):
        return True
    # asyncpg's CharacterNotInRepertoireError (a NUL in a parameter) arrives as a plain
    # DBAPIError: SQLSTATE class 22 ("data exception") tells.
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("22")


def unhandled_problem(exc: BaseException) -> Problem:
    """The answer for an exception a route let escape."""
    if _is_data_error(exc):
        # The database refused a value the validation let through (e.g. a NUL character in
        # text): that is bad input, so a 4xx, never a 500.
        log.warning("database_refused_value", error=repr(exc)[:300])
        return Problem(
            422,
            "invalid_value",
            "A value in the request cannot be stored (for example it contains a NUL character).",
        )
    if is_infrastructure_error(exc):
        # The database is down or was restarted (a pooled connection went stale): not a bug,
        # and a retry soon succeeds, so 503 with Retry-After instead of 500.
        log.warning("database_unavailable", error=repr(exc)[:300])
        return Problem(503, "unavailable", DETAILS[503], headers={"Retry-After": "1"})
    log.error("unhandled_exception", exc_info=exc)
    return Problem(500, "internal", DETAILS[500])


async def _unhandled_handler(_: Request, exc: Exception) -> Response:
    return unhandled_problem(exc).response()


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(Problem, _problem_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
