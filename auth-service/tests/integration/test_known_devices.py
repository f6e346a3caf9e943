"""Known-device cookies (api-v1.1 F) and the security log lines of sign-in, sign-out and password
change (DESIGN-20 decision 3). The lock-out attack itself: tests/security/test_auth_throttle.py."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import MutableMapping, Sequence
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from auth_service.api.auth import set_device_cookie
from auth_service.settings import AuthSettings
from auth_service.store import known_devices
from chat_devtools.auth_harness import STRONG_PASSWORD, AuthHarness
from chat_runtime.db import create_engine
from fastapi.responses import Response
from structlog.testing import capture_logs

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DEVICE = "chat_device"
ONE_YEAR = 365 * 24 * 3600


def device_set_cookie(r: httpx.Response) -> str:
    found = [c for c in r.headers.get_list("set-cookie") if c.startswith(f"{DEVICE}=")]
    assert len(found) == 1, r.headers.get_list("set-cookie")
    return found[0]


def security_lines(
    logs: Sequence[MutableMapping[str, Any]], event: str
) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e.get("event") == event and e.get("security") is True]


async def test_every_sign_in_sets_a_year_long_http_only_strict_device_cookie(
    auth_it: AuthHarness,
) -> None:
    await auth_it.register("devicee")
    r = await auth_it.login("devicee")
    assert r.status_code == 200, r.text
    cookie = device_set_cookie(r)
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/v1/auth" in cookie
    assert f"Max-Age={ONE_YEAR}" in cookie
    assert "Secure" not in cookie  # dev, like the refresh cookie
    value = r.cookies[DEVICE]
    # Stored only as SHA-256, bound to the user.
    engine = create_engine(auth_it.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(known_devices))).mappings().all()
    finally:
        await engine.dispose()
    mine = [row for row in rows if row["user_id"] == uuid.UUID(r.json()["user"]["id"])]
    assert [row["token_hash"] for row in mine] == [hashlib.sha256(value.encode()).digest()]
    assert value.encode() not in b"".join(row["token_hash"] for row in rows)
    # Signing in again from the same browser keeps the value and renews it for a year.
    again = await auth_it.login("devicee", headers={"Cookie": f"{DEVICE}={value}"})
    assert again.cookies[DEVICE] == value
    assert f"Max-Age={ONE_YEAR}" in device_set_cookie(again)
    # Another browser gets its own.
    assert (await auth_it.login("devicee")).cookies[DEVICE] != value


async def test_the_device_cookie_is_secure_outside_dev() -> None:
    response = Response()
    set_device_cookie(response, AuthSettings(cookie_secure=True), "abc")
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


async def test_a_failed_sign_in_sets_no_device_cookie(auth_it: AuthHarness) -> None:
    await auth_it.register("nodevice")
    r = await auth_it.login("nodevice", "definitely-not-it-123")
    assert r.status_code == 401
    assert not [c for c in r.headers.get_list("set-cookie") if c.startswith(f"{DEVICE}=")]


async def test_sign_in_sign_out_and_password_change_leave_security_lines(
    auth_it: AuthHarness,
) -> None:
    user = await auth_it.register("audited")
    with capture_logs() as logs:
        failed = await auth_it.login("audited", "wrong-password-here-1")
        ok = await auth_it.login("audited")
        access = ok.json()["access_token"]
        bearer = {"Authorization": f"Bearer {access}"}
        changed = await auth_it.client.post(
            "/v1/auth/password",
            headers=bearer,
            json={"current_password": STRONG_PASSWORD, "new_password": "quartz-lantern-meadow-93"},
        )
        out = await auth_it.client.post("/v1/auth/logout", headers=bearer, json={})
    assert (failed.status_code, ok.status_code, changed.status_code) == (401, 200, 204)
    assert out.status_code == 204
    [fail] = security_lines(logs, "sign_in_failed")
    assert fail["username"] == "audited"
    assert fail["log_level"] == "warning"
    [success] = security_lines(logs, "sign_in_succeeded")
    assert success["user_id"] == user["id"]
    assert success["known_device"] is False
    [change] = security_lines(logs, "password_changed")
    assert change["user_id"] == user["id"]
    [signed_out] = security_lines(logs, "signed_out")
    assert signed_out["user_id"] == user["id"]
    # Never a password or a token in any line.
    text = repr(logs)
    for secret in (STRONG_PASSWORD, "quartz-lantern-meadow-93", "wrong-password-here-1", access):
        assert secret not in text
    assert ok.cookies[DEVICE] not in text
    assert ok.cookies["chat_refresh"] not in text
