"""/v1/auth/*: register, login, refresh, logout, logout-all, password change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Response, status

from auth_service.api.deps import (
    REFRESH_COOKIE,
    REFRESH_COOKIE_PATH,
    BearerToken,
    ClientAddress,
    CookieEndpoint,
    CurrentUser,
    Service,
    Settings,
)
from auth_service.api.schemas import (
    LoginIn,
    PasswordChangeIn,
    RegisterIn,
    TokenOut,
    UserEnvelope,
    UserOut,
)
from auth_service.service import SignedIn, user_json
from auth_service.settings import AuthSettings

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
        user=UserOut(**user_json(result.user)),
    )


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: RegisterIn, service: Service, address: ClientAddress) -> UserEnvelope:
    user = await service.register(body.username, body.display_name, body.password, address)
    return UserEnvelope(user=UserOut(**user_json(user)))


@router.post("/login", dependencies=[CookieEndpoint])
async def login(
    body: LoginIn, response: Response, service: Service, settings: Settings, address: ClientAddress
) -> TokenOut:
    result = await service.login(body.username, body.password, address)
    set_refresh_cookie(response, settings, result.refresh_token, result.refresh_max_age)
    return _token_body(result)


@router.post("/refresh", dependencies=[CookieEndpoint])
async def refresh(
    response: Response, service: Service, settings: Settings, token: RefreshCookie = None
) -> TokenOut:
    result = await service.refresh(token)
    set_refresh_cookie(response, settings, result.refresh_token, result.refresh_max_age)
    return _token_body(result)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, dependencies=[CookieEndpoint])
async def logout(
    service: Service, settings: Settings, bearer: BearerToken, token: RefreshCookie = None
) -> Response:
    await service.logout(token, bearer)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_refresh_cookie(response, settings)
    return response


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_all(claims: CurrentUser, service: Service, settings: Settings) -> Response:
    await service.logout_all(claims)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_refresh_cookie(response, settings)
    return response


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChangeIn, claims: CurrentUser, service: Service, address: ClientAddress
) -> Response:
    await service.change_password(claims, body.current_password, body.new_password, address)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
