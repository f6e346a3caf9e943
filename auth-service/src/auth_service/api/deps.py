"""Dependencies shared by the routes (`Annotated[..., Depends()]` aliases)."""

from __future__ import annotations

from typing import Annotated

from chat_runtime.http import Problem, client_address
from fastapi import Depends, Request

from auth_service.bearer import authenticate
from auth_service.deps import Deps
from auth_service.domain.tokens import AccessClaims
from auth_service.errors import Unauthorized
from auth_service.settings import AuthSettings
from auth_service.store import ClientInfo

REFRESH_COOKIE = "chat_refresh"
REFRESH_COOKIE_PATH = "/v1/auth"
# api-v1.1 F: the known-device cookie, same path and flags as the refresh cookie.
DEVICE_COOKIE = "chat_device"
USER_AGENT_MAX = 256


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.auth
    return deps


def get_settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings
    return settings


AuthDeps = Annotated[Deps, Depends(get_deps)]
Settings = Annotated[AuthSettings, Depends(get_settings)]


def get_client_address(request: Request, settings: Settings) -> str:
    return client_address(request, settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(get_client_address)]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


BearerToken = Annotated[str | None, Depends(bearer_token)]


async def current_claims(token: BearerToken, deps: AuthDeps) -> AccessClaims:
    if token is None:
        raise Unauthorized("missing")
    return await authenticate(deps, token)


CurrentUser = Annotated[AccessClaims, Depends(current_claims)]


def cookie_endpoint_guard(request: Request, settings: Settings) -> None:
    """CSRF defence for the cookie-bearing endpoints beside SameSite=Strict (api-v1 §3):
    a cross-site form can neither send `application/json` nor forge the browser's Origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin not in settings.allowed_origins:
        raise Problem(
            403,
            "origin_not_allowed",
            "This request came from a page that is not allowed to sign in here.",
        )
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise Problem(
            415,
            "unsupported_media_type",
            "Send this request with the header Content-Type: application/json.",
        )


CookieEndpoint = Depends(cookie_endpoint_guard)


def client_info(request: Request, address: ClientAddress) -> ClientInfo:
    agent = request.headers.get("user-agent")
    if agent is not None:
        agent = "".join(ch for ch in agent[:USER_AGENT_MAX] if ch.isprintable()) or None
    return ClientInfo(user_agent=agent, ip=address)


Client = Annotated[ClientInfo, Depends(client_info)]


def require_admin_feature(settings: Settings) -> None:
    """api-v1.1 preamble: the additions of C answer `feature_disabled` while `admin` is off."""
    if "admin" not in settings.feature_switches.on:
        raise Problem(403, "feature_disabled", "The feature 'admin' is switched off.")


AdminFeature = Depends(require_admin_feature)


def require_blocking_feature(settings: Settings) -> None:
    """api-v1.1 preamble: blocking answers `feature_disabled` while `blocking` is off."""
    if "blocking" not in settings.feature_switches.on:
        raise Problem(403, "feature_disabled", "The feature 'blocking' is switched off.")


BlockingFeature = Depends(require_blocking_feature)
