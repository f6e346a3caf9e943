"""A refresh session lives 30 days from its login, whatever the rotations (api-v1 §3: "30-day
absolute lifetime; rotated on every refresh"): rotating hands out a new token for the same
session and its original expiry, never a fresh 30 days. Time moves only by the fake clock."""

from __future__ import annotations

import re
import uuid

import httpx
import jwt
import pytest
import sqlalchemy as sa
from auth_service.store import sessions
from chat_devtools.auth_harness import AuthHarness, FakeClock
from chat_runtime.db import create_engine

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DAY_S = 24 * 3600
LIFETIME_S = 30 * DAY_S  # api-v1 §3


def refresh_cookie(response: httpx.Response) -> tuple[str, int]:
    """The `chat_refresh` cookie's value and its Max-Age."""
    header = response.headers.get("set-cookie", "")
    value = response.cookies.get("chat_refresh")
    assert value, header
    max_age = re.search(r"Max-Age=(\d+)", header)
    assert max_age, header
    return value, int(max_age.group(1))


async def post_refresh(h: AuthHarness, token: str) -> httpx.Response:
    return await h.client.post(
        "/v1/auth/refresh", headers={"Cookie": f"chat_refresh={token}"}, json={}
    )


async def session_expiry(h: AuthHarness, session_id: str) -> float:
    engine = create_engine(h.database_url)
    try:
        async with engine.connect() as conn:
            expires = (
                await conn.execute(
                    sa.select(sessions.c.expires_at).where(sessions.c.id == uuid.UUID(session_id))
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return float(expires.timestamp())


def session_of(response: httpx.Response) -> str:
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    return str(claims["sid"])


async def test_rotation_keeps_the_sessions_original_expiry(auth_it_clocked: AuthHarness) -> None:
    h = auth_it_clocked
    clock = h.clock
    assert isinstance(clock, FakeClock)
    await h.register("absolute")
    login = await h.login("absolute")
    assert login.status_code == 200, login.text
    signed_in_at = clock.now
    token, max_age = refresh_cookie(login)
    assert max_age == LIFETIME_S
    session_id = session_of(login)
    ends_at = await session_expiry(h, session_id)
    assert ends_at == pytest.approx(signed_in_at + LIFETIME_S, abs=1)

    # Ten days on, a refresh rotates the token but the session still ends where it did: the
    # new cookie lives the 20 days left, not another 30.
    clock.advance(10 * DAY_S)
    r = await post_refresh(h, token)
    assert r.status_code == 200, r.text
    token, max_age = refresh_cookie(r)
    assert max_age == LIFETIME_S - 10 * DAY_S
    assert session_of(r) == session_id
    assert await session_expiry(h, session_id) == ends_at

    # Used again ten days later (the 14-day idle limit of api-v1.1 C never applies here).
    clock.advance(10 * DAY_S)
    r = await post_refresh(h, token)
    assert r.status_code == 200, r.text
    token, _ = refresh_cookie(r)

    # A refresh a minute before the end still works (the chain of rotations is not refused
    # early) and its cookie lives that one minute.
    clock.now = ends_at - 60
    r = await post_refresh(h, token)
    assert r.status_code == 200, r.text
    token, max_age = refresh_cookie(r)
    assert max_age == 60
    assert await session_expiry(h, session_id) == ends_at

    # Past the end the newest token, issued a minute ago, is refused: the lifetime is counted
    # from the login, not from the last rotation (a sliding expiry would accept it).
    clock.now = ends_at + 1
    expired = await post_refresh(h, token)
    assert expired.status_code == 401, expired.text
    assert expired.json()["code"] == "invalid_refresh"
