"""Refusals of the use cases; `api/errors.py` turns each into a problem response (api-v1 §2, §3)."""

from __future__ import annotations

from auth_service.domain.usernames import RuleViolation


class AuthError(Exception):
    """A refusal with a defined status."""


class ValidationFailed(AuthError):
    def __init__(self, errors: list[RuleViolation]) -> None:
        super().__init__("validation failed")
        self.errors = errors


class UsernameTaken(AuthError):
    pass


class InvalidCredentials(AuthError):
    pass


class WrongCurrentPassword(InvalidCredentials):
    pass


class TooManyAttempts(AuthError):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many attempts")
        self.retry_after_s = retry_after_s


class InvalidRefresh(AuthError):
    pass


class Unauthorized(AuthError):
    pass


class Refused(AuthError):
    """A refusal of api-v1.1 C with its status, code and plain-words detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.detail = detail


def forbidden() -> Refused:
    return Refused(403, "forbidden", "You are not allowed to do this.")


def not_found(what: str = "user") -> Refused:
    return Refused(404, "not_found", f"There is no such {what}.")


class InvalidReset(AuthError):
    """A password-reset token that is used, voided, expired or unknown (one answer for all)."""
