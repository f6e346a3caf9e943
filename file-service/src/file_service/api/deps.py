"""Dependencies of the routes: the feature switch, the caller (bearer token, or a signed link
for downloads), and the service's parts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from chat_runtime.file_links import read_file_link
from chat_runtime.host import HostContext
from chat_runtime.http import Problem, rate_limit
from chat_runtime.tokens import AccessClaims, TokenVerifier, bearer_claims
from fastapi import Depends, Request

from file_service.deps import FileDeps
from file_service.errors import NotFound
from file_service.settings import FileSettings

FEATURE = "attachments"


def _host(request: Request) -> HostContext:
    host: HostContext = request.app.state.host
    return host


def _verifier(request: Request) -> TokenVerifier:
    # The host's verifier, or the fake a test gave `bootstrap.build(verifier=...)`.
    verifier: TokenVerifier = _host(request).verifier
    return verifier


_bearer = bearer_claims(_verifier)
CurrentUser = Annotated[AccessClaims, Depends(_bearer)]


def _caller_id(claims: CurrentUser) -> UUID:
    return UUID(claims.user_id)


CallerId = Annotated[UUID, Depends(_caller_id)]

# The per-user upload limit (CHAT_RATE_FILE_UPLOAD): a route dependency, after the bearer token.
UploadLimit = Depends(rate_limit.rate_limit(rate_limit.FILE_UPLOAD, _caller_id))


def get_deps(request: Request) -> FileDeps:
    deps: FileDeps | None = getattr(request.app.state, "files", None)
    if deps is None:
        raise Problem(503, "unavailable", "The service is starting. Please try again soon.")
    return deps


Deps = Annotated[FileDeps, Depends(get_deps)]


def require_attachments(request: Request) -> None:
    """Every /v1/files route: 403 `feature_disabled` while `attachments` is off
    (CHAT_FEATURES)."""
    settings: FileSettings = request.app.state.settings
    if FEATURE not in settings.feature_switches.on:
        raise Problem(403, "feature_disabled", f"The feature '{FEATURE}' is switched off.")


AttachmentsFeature = Depends(require_attachments)


def parse_file_id(value: str) -> UUID:
    """A path id that is not a UUID names no file: 404, like any other."""
    try:
        return UUID(value)
    except ValueError as exc:
        raise NotFound() from exc


async def download_caller(request: Request, file_id: str, token: str | None = None) -> UUID:
    """The user a download acts for: a signed link's (`?token=`; one for another file, expired
    or forged -> 404, as for no access), else the bearer token's (neither -> 401)."""
    if token is not None:
        deps = get_deps(request)
        user = read_file_link(
            deps.settings.link_key,
            token,
            str(parse_file_id(file_id)),
            max_age_s=deps.settings.file_link_max_age_s,
        )
        if user is None:
            raise NotFound()
        try:
            return UUID(user)
        except ValueError as exc:
            raise NotFound() from exc
    claims = await _bearer(request)
    return UUID(claims.user_id)


DownloadCaller = Annotated[UUID, Depends(download_caller)]
