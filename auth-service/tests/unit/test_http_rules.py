"""HTTP-level rules without I/O: problem mapping and the cookie-endpoint guard."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from auth_service.api.deps import cookie_endpoint_guard
from auth_service.api.errors import problem_for
from auth_service.domain.usernames import RuleViolation
from auth_service.errors import (
    InvalidCredentials,
    InvalidRefresh,
    TooManyAttempts,
    Unauthorized,
    UsernameTaken,
    ValidationFailed,
    WrongCurrentPassword,
)
from auth_service.settings import AuthSettings
from chat_runtime.http import create_app
from fastapi import Depends

pytestmark = pytest.mark.unit


def test_problems_have_codes_and_plain_details() -> None:
    cases = {
        ValidationFailed(
            [RuleViolation("password", "too_short", "Use at least 12 characters (you used 8).")]
        ): (422, "validation_failed"),
        UsernameTaken(): (409, "username_taken"),
        InvalidCredentials(): (401, "invalid_credentials"),
        WrongCurrentPassword(): (401, "invalid_credentials"),
        TooManyAttempts(4.2): (429, "too_many_attempts"),
        InvalidRefresh(): (401, "invalid_refresh"),
        Unauthorized("x"): (401, "unauthorized"),
    }
    for exc, (status, code) in cases.items():
        problem = problem_for(exc)
        assert (problem.status, problem.code) == (status, code)
        assert problem.detail.endswith(".")
    assert problem_for(TooManyAttempts(4.2)).headers == {"Retry-After": "5"}
    failed = ValidationFailed(
        [RuleViolation("password", "too_short", "Use at least 12 characters (you used 8).")]
    )
    errors = problem_for(failed).errors
    assert errors == [
        {
            "field": "password",
            "code": "too_short",
            "message": "Use at least 12 characters (you used 8).",
        }
    ]
    assert problem_for(Unauthorized("x")).headers == {
        "WWW-Authenticate": 'Bearer error="invalid_token"'
    }


def test_login_failure_text_does_not_depend_on_the_reason() -> None:
    assert problem_for(InvalidCredentials()).body() == problem_for(InvalidCredentials()).body()


async def test_cookie_guard() -> None:
    settings = AuthSettings(allowed_origins=["http://localhost:8080"])
    app = create_app(settings, title="guard")

    @app.post("/guarded", dependencies=[Depends(cookie_endpoint_guard)])
    async def guarded() -> dict[str, bool]:
        return {"ok": True}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ok = await c.post("/guarded", json={})
        assert ok.status_code == 200
        ok = await c.post(
            "/guarded",
            content=b"{}",
            headers={
                "Content-Type": "Application/JSON; charset=utf-8",
                "Origin": "http://localhost:8080",
            },
        )
        assert ok.status_code == 200
        form = await c.post("/guarded", data={"a": "b"})
        assert form.status_code == 415
        assert form.json()["code"] == "unsupported_media_type"
        none = await c.post("/guarded", content=b"{}")
        assert none.status_code == 415
        evil = await c.post("/guarded", json={}, headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403
        assert evil.json()["code"] == "origin_not_allowed"


def test_settings_refuse_insecure_cookies_in_prod() -> None:
    assert AuthSettings().secure_cookies is False  # dev
    # Real secrets and an https JWKS URL, so that only the cookies are in question.
    prod: dict[str, Any] = {
        "env": "prod",
        "amqp_url": "amqp://auth:a-real-password@rabbitmq:5672/",
        "database_url": "postgresql+asyncpg://auth:a-real-password@postgres/chat_auth",
        "jwks_url": "https://auth-service:8001/v1/auth/jwks",
    }
    assert AuthSettings(**prod).secure_cookies is True
    with pytest.raises(ValueError, match="insecure cookies"):
        AuthSettings(**prod, cookie_secure=False)


def test_settings_refuse_weak_argon2_parameters() -> None:
    with pytest.raises(ValueError, match="greater than or equal"):
        AuthSettings(argon2_memory_cost_kib=4096)
    with pytest.raises(ValueError, match="greater than or equal"):
        AuthSettings(argon2_time_cost=1)
