"""Dependencies of the REST routes: the caller, a unit of work, domain errors as problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from chat_runtime.db import is_infrastructure_error
from chat_runtime.features import Features
from chat_runtime.file_links import sign_file_links
from chat_runtime.host import HostContext
from chat_runtime.http import FieldError, Problem, rate_limit
from chat_runtime.logging import get_logger
from chat_runtime.tokens import AccessClaims, TokenVerifier, bearer_claims
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.exc import DataError, SQLAlchemyError

from message_service.domain.errors import DomainError, InvalidField
from message_service.settings import MessageSettings
from message_service.store import UnitOfWork

log = get_logger(__name__)


def _host(request: Request) -> HostContext:
    host: HostContext = request.app.state.host
    return host


def _verifier(request: Request) -> TokenVerifier:
    # The host's verifier, or the fake a test gave `bootstrap.build(verifier=...)`.
    verifier: TokenVerifier = _host(request).verifier
    return verifier


CurrentUser = Annotated[AccessClaims, Depends(bearer_claims(_verifier))]


def _caller_id(claims: CurrentUser) -> UUID:
    return UUID(claims.user_id)


CallerId = Annotated[UUID, Depends(_caller_id)]


def limited(action: str, route: dict[str, Any]) -> dict[str, Any]:
    """Route keyword arguments (`documented(...)`'s) plus the per-user limit of `action`
    (chat_runtime.http.rate_limit; CHAT_RATE_* settings) and its documented 429."""
    dependency = Depends(rate_limit.rate_limit(action, _caller_id))
    responses = {**route.get("responses", {}), **rate_limit.RATE_LIMITED_RESPONSE}
    return {**route, "responses": responses, "dependencies": [dependency]}


def get_settings(request: Request) -> MessageSettings:
    settings: MessageSettings = request.app.state.settings
    return settings


Settings = Annotated[MessageSettings, Depends(get_settings)]


def get_uow(request: Request) -> UnitOfWork:
    host = _host(request)
    return UnitOfWork(host.require_sessions(), host.relay)


Uow = Annotated[UnitOfWork, Depends(get_uow)]


@dataclass(frozen=True, slots=True)
class FileLinker:
    """Signs the file links of one caller's REST answer (api-v1.1 E): `url` and `thumbnail_url`
    work for that user only, for 10 minutes (chat_runtime.file_links)."""

    key: str
    user_id: str

    def sign(self, file_id: str, has_thumbnail: bool) -> tuple[str, str | None]:
        return sign_file_links(self.key, file_id, self.user_id, has_thumbnail)


def _file_linker(settings: Settings, user: CallerId) -> FileLinker:
    return FileLinker(settings.file_link_key.get_secret_value(), str(user))


Links = Annotated[FileLinker, Depends(_file_linker)]


async def _domain_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    errors: list[FieldError] | None = None
    if isinstance(exc, InvalidField):
        errors = [{"field": exc.field, "code": exc.rule, "message": exc.detail}]
    # 503 (a file not known yet, api-v1.1 E): worth retrying in a moment.
    headers = {"Retry-After": "1"} if exc.status == 503 else None
    problem = Problem(exc.status, exc.code, exc.detail, errors=errors, headers=headers)
    response: Response = problem.response()
    return response


def _refused_value(exc: Exception) -> bool:
    """The database refused a value (SQLSTATE class 22, "data exception"). asyncpg's
    CharacterNotInRepertoireError (a NUL in a parameter) reaches us as a plain DBAPIError, so
    the class alone does not tell."""
    if isinstance(exc, DataError):
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("22")


async def _database_error_handler(_: Request, exc: Exception) -> Response:
    if _refused_value(exc):
        # The database refused a value the validation let through (a NUL character in a
        # search, say): bad input, so a 422 like the runtime's own handler, never a 500.
        log.warning("database_refused_value", error=repr(exc)[:300])
        problem = Problem(
            422,
            "invalid_value",
            "A value in the request cannot be used (for example it contains a NUL character).",
        )
    elif is_infrastructure_error(exc):
        log.warning("database_unavailable", error=repr(exc)[:300])
        problem = Problem(
            503, "unavailable", "The service cannot reach its database. Please try again soon."
        )
    else:
        log.error("database_error", exc_info=exc)
        problem = Problem(500, "internal", "Something went wrong on our side. Please try again.")
    response: Response = problem.response()
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error_handler)
    # A database outage is a 503 the client may retry, not an opaque 500.
    app.add_exception_handler(SQLAlchemyError, _database_error_handler)
    app.add_exception_handler(OSError, _database_error_handler)


def require_features(features: Features, *needed: str) -> None:
    """Raise the problem of an api-v1.1 addition whose feature is off (403 feature_disabled) or
    not implemented by this release (422 unsupported)."""
    refusal = features.refusal(needed)
    if refusal is not None:
        status = 403 if refusal.code == "feature_disabled" else 422
        raise Problem(status, refusal.code, refusal.detail)
