"""/v1/auth/*: register, login, refresh, logout, logout-all, password change; password reset
and sessions (api-v1.1 C)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Cookie, Response, status

from auth_service import (
    accounts,
    password_change,
    registration,
    resets,
    rotation,
    sign_in,
    sign_out,
)
from auth_service.api.deps import (
    DEVICE_COOKIE,
    REFRESH_COOKIE,
    REFRESH_COOKIE_PATH,
    AdminFeature,
    AuthDeps,
    BearerToken,
    Client,
    ClientAddress,
    CookieEndpoint,
    CurrentUser,
    Settings,
)
from auth_service.api.schemas import (
    LoginIn,
    PasswordChangeIn,
    PasswordResetIn,
    RegisterWithInviteIn,
    SessionOut,
    SessionsOut,
    TokenOut,
    UserEnvelope,
    user_out,
)
from auth_service.api.throttled import TOO_MANY_ATTEMPTS
from auth_service.settings import AuthSettings
from auth_service.sign_in import SignedIn
from auth_service.wire import rfc3339

router = APIRouter(prefix="/v1/auth", tags=["auth"])

RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE)]
DeviceCookie = Annotated[str | None, Cookie(alias=DEVICE_COOKIE)]


def set_refresh_cookie(
    response: Response, settings: AuthSettings, token: str, max_age: int
) -> None:
    response.set_cookie(
        REFRESH_COOKIE,
        token,
        max_age=max_age,
        path=REFRESH_COOKIE_PATH,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def set_device_cookie(response: Response, settings: AuthSettings, token: str) -> None:
    """api-v1.1 F: the known-device cookie, renewed for a year by every sign-in."""
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=settings.device_lifetime_s,
        path=REFRESH_COOKIE_PATH,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def clear_refresh_cookie(response: Response, settings: AuthSettings) -> None:
    response.delete_cookie(
        REFRESH_COOKIE,
        path=REFRESH_COOKIE_PATH,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def _token_body(result: SignedIn) -> TokenOut:
    return TokenOut(
        access_token=result.access_token,
        expires_in=result.expires_in,
        user=user_out(result.user),
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, responses=TOO_MANY_ATTEMPTS)
async def register(
    body: RegisterWithInviteIn, deps: AuthDeps, address: ClientAddress
) -> UserEnvelope:
    user = await registration.register(
        deps, body.username, body.display_name, body.password, address, body.invite
    )
    return UserEnvelope(user=user_out(user))


@router.post("/login", dependencies=[CookieEndpoint], responses=TOO_MANY_ATTEMPTS)
async def login(
    body: LoginIn,
    response: Response,
    deps: AuthDeps,
    settings: Settings,
    address: ClientAddress,
    client: Client,
    device: DeviceCookie = None,
) -> TokenOut:
    result = await sign_in.login(deps, body.username, body.password, address, client, device)
    set_refresh_cookie(response, settings, result.refresh_token, result.refresh_max_age)
    if result.device_token is not None:
        set_device_cookie(response, settings, result.device_token)
    return _token_body(result)


@router.post("/refresh", dependencies=[CookieEndpoint])
async def refresh(
    response: Response,
    deps: AuthDeps,
    settings: Settings,
    client: Client,
    token: RefreshCookie = None,
) -> TokenOut:
    result = await rotation.refresh(deps, token, client)
    set_refresh_cookie(response, settings, result.refresh_token, result.refresh_max_age)
    return _token_body(result)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, dependencies=[CookieEndpoint])
async def logout(
    deps: AuthDeps, settings: Settings, bearer: BearerToken, token: RefreshCookie = None
) -> Response:
    await sign_out.logout(deps, token, bearer)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_refresh_cookie(response, settings)
    return response


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_all(claims: CurrentUser, deps: AuthDeps, settings: Settings) -> Response:
    await sign_out.logout_all(deps, claims)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_refresh_cookie(response, settings)
    return response


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT, responses=TOO_MANY_ATTEMPTS)
async def change_password(
    body: PasswordChangeIn,
    claims: CurrentUser,
    deps: AuthDeps,
    address: ClientAddress,
    device: DeviceCookie = None,
) -> Response:
    await password_change.change_password(
        deps, claims, body.current_password, body.new_password, address, device
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password-reset", status_code=status.HTTP_204_NO_CONTENT, dependencies=[AdminFeature])
async def password_reset(body: PasswordResetIn, deps: AuthDeps) -> Response:
    """api-v1.1 C: set a new password with a reset link's token; every session ends."""
    await resets.reset_password(deps, body.token, body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", dependencies=[AdminFeature])
async def list_sessions(claims: CurrentUser, deps: AuthDeps) -> SessionsOut:
    found = await accounts.list_sessions(deps, claims)
    return SessionsOut(
        sessions=[
            SessionOut(
                id=str(x.id),
                created_at=rfc3339(x.created_at),
                last_used_at=rfc3339(x.last_used_at),
                user_agent=x.user_agent,
                ip=x.ip,
                current=x.id == claims.session_id,
            )
            for x in found
        ]
    )


@router.delete(
    "/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[AdminFeature]
)
async def end_session(session_id: uuid.UUID, claims: CurrentUser, deps: AuthDeps) -> Response:
    await accounts.end_session(deps, claims, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
