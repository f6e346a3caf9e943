"""/v1/auth/*: register, login, refresh, logout, logout-all, password change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Response, status

from auth_service import password_change, registration, rotation, sign_in, sign_out
from auth_service.api.deps import (
    REFRESH_COOKIE,
    REFRESH_COOKIE_PATH,
    AuthDeps,
    BearerToken,
    ClientAddress,
    CookieEndpoint,
    CurrentUser,
    Settings,
)
from auth_service.api.schemas import (
    LoginIn,
    PasswordChangeIn,
    RegisterIn,
    TokenOut,
    UserEnvelope,
    user_out,
)
from auth_service.settings import AuthSettings
from auth_service.sign_in import SignedIn

router = APIRouter(prefix="/v1/auth", tags=["auth"])

RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE)]


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


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: RegisterIn, deps: AuthDeps, address: ClientAddress) -> UserEnvelope:
    user = await registration.register(
        deps, body.username, body.display_name, body.password, address
    )
    return UserEnvelope(user=user_out(user))


@router.post("/login", dependencies=[CookieEndpoint])
async def login(
    body: LoginIn, response: Response, deps: AuthDeps, settings: Settings, address: ClientAddress
) -> TokenOut:
    result = await sign_in.login(deps, body.username, body.password, address)
    set_refresh_cookie(response, settings, result.refresh_token, result.refresh_max_age)
    return _token_body(result)


@router.post("/refresh", dependencies=[CookieEndpoint])
async def refresh(
    response: Response, deps: AuthDeps, settings: Settings, token: RefreshCookie = None
) -> TokenOut:
    result = await rotation.refresh(deps, token)
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


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChangeIn, claims: CurrentUser, deps: AuthDeps, address: ClientAddress
) -> Response:
    await password_change.change_password(
        deps, claims, body.current_password, body.new_password, address
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
