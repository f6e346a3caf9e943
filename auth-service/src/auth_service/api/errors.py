"""Every refusal of the use cases as a problem with plain words (api-v1 §2, §3)."""

from __future__ import annotations

from chat_runtime.http import FieldError, Problem, problem_response
from fastapi import FastAPI, Request
from fastapi.responses import Response

from auth_service.api.auth import clear_refresh_cookie
from auth_service.domain.throttle import retry_after_header
from auth_service.errors import (
    AuthError,
    InvalidCredentials,
    InvalidRefresh,
    InvalidReset,
    Refused,
    TooManyAttempts,
    Unauthorized,
    UsernameTaken,
    ValidationFailed,
    WrongCurrentPassword,
)


def problem_for(exc: AuthError) -> Problem:
    if isinstance(exc, ValidationFailed):
        errors: list[FieldError] = [
            {"field": e.field, "code": e.code, "message": e.message} for e in exc.errors
        ]
        return Problem(
            422,
            "validation_failed",
            "Some fields need changes; each problem is listed with how to fix it.",
            errors=errors,
        )
    if isinstance(exc, UsernameTaken):
        return Problem(
            409,
            "username_taken",
            "That username is already taken; pick another one.",
            errors=[{"field": "username", "code": "taken", "message": "Pick another username."}],
        )
    if isinstance(exc, TooManyAttempts):
        wait = retry_after_header(exc.retry_after_s)
        return Problem(
            429,
            "too_many_attempts",
            f"Too many attempts. Wait {wait} seconds, then try again.",
            headers={"Retry-After": wait},
        )
    if isinstance(exc, WrongCurrentPassword):
        return Problem(401, "invalid_credentials", "Your current password is not correct.")
    if isinstance(exc, InvalidCredentials):
        # One text for unknown user and wrong password (no account enumeration).
        return Problem(401, "invalid_credentials", "The username or password is not correct.")
    if isinstance(exc, InvalidRefresh):
        return Problem(401, "invalid_refresh", "Your session has ended; please sign in again.")
    if isinstance(exc, Refused):
        return Problem(exc.status, exc.code, exc.detail)
    if isinstance(exc, InvalidReset):
        # One text for used, voided, expired and unknown links (and deactivated accounts).
        return Problem(
            401,
            "invalid_reset",
            "This reset link is no longer valid; ask an administrator for a new one.",
        )
    if isinstance(exc, Unauthorized):
        return Problem(
            401,
            "unauthorized",
            "Sign in to continue.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Problem(400, "bad_request", "The request could not be completed.")


async def auth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    response = problem_response(problem_for(exc))
    if isinstance(exc, InvalidRefresh):
        # The cookie is useless now; drop it so the browser stops sending it.
        clear_refresh_cookie(response, request.app.state.settings)
    return response


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, auth_error_handler)
