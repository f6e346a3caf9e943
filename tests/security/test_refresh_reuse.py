"""Refresh-token reuse ends the session everywhere, live sockets included (QA-001: "logout and
refresh-reuse close live sockets"; api-v1 §3: presenting an older rotated token revokes the whole
session, refresh reuse publishes `auth.session.revoked.v1`, gateways close that session's sockets
with 4401 within 1 second).

One path through the stack: login through the edge, a socket on that session, two rotations,
then the first (stolen) token replayed. The auth-service half and the gateway half are tested
alone elsewhere; this one proves they meet. Runs against the standard ports: hold
/work/plan/E2E-LOCK."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    JSON_HEADERS,
    Edge,
    User,
    assert_problem,
    authenticated_socket,
    open_edge,
    unverified_claims,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [
    pytest.mark.security,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(120),
]

REVOCATION_DEADLINE_S = 1.0  # api-v1 §3
CLOSE_UNAUTHORIZED = 4401


@pytest.fixture(scope="module")
def reuse_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def reuse_edge(reuse_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(reuse_edge_url) as edge:
        yield edge


def refresh_cookie(response: httpx.Response) -> str:
    value = response.cookies.get("chat_refresh")
    assert value, f"no refresh cookie: {response.headers.get('set-cookie')}"
    return value


async def refresh(edge: Edge, token: str) -> httpx.Response:
    return await edge.http.post(
        "/v1/auth/refresh", headers={**JSON_HEADERS, "Cookie": f"chat_refresh={token}"}, json={}
    )


async def test_an_old_refresh_token_replayed_closes_the_sessions_socket_4401(
    reuse_edge: Edge,
) -> None:
    pooled = (await reuse_edge.pooled_users(1))[0]
    # A new session of a pooled account is the victim; the account's pooled session is the
    # control that must survive.
    login = await reuse_edge.login_response(pooled.username, pooled.password)
    assert login.status_code == 200, login.text
    access = login.json()["access_token"]
    victim_sid = unverified_claims(access)["sid"]
    assert victim_sid != pooled.session_id
    t1 = refresh_cookie(login)

    # The holder refreshes twice: t1 -> t2 -> t3 (t1 is now two rotations old).
    r2 = await refresh(reuse_edge, t1)
    assert r2.status_code == 200, r2.text
    t2 = refresh_cookie(r2)
    r3 = await refresh(reuse_edge, t2)
    assert r3.status_code == 200, r3.text
    t3 = refresh_cookie(r3)
    newest_access = r3.json()["access_token"]
    assert len({t1, t2, t3}) == 3
    assert unverified_claims(newest_access)["sid"] == victim_sid

    victim = await authenticated_socket(reuse_edge.ws_url, newest_access)
    kept = await authenticated_socket(reuse_edge.ws_url, pooled.token)
    try:
        assert victim.ready["session_id"] == victim_sid

        # The thief replays t1.
        stolen = await refresh(reuse_edge, t1)
        replayed_at = time.monotonic()
        assert_problem(stolen, 401, "invalid_refresh")

        code = await victim.wait_closed(REVOCATION_DEADLINE_S + 4.0)
        assert code == CLOSE_UNAUTHORIZED, f"the victim's socket closed with {code}"
        assert victim.closed_at is not None
        took = victim.closed_at - replayed_at
        assert took <= REVOCATION_DEADLINE_S, f"closed {took:.2f}s after the replay"

        # The whole session is over: the holder's newest refresh token and access token too.
        assert_problem(await refresh(reuse_edge, t3), 401, "invalid_refresh")
        me = await reuse_edge.http.get(
            "/v1/users/me", headers={"Authorization": f"Bearer {newest_access}"}
        )
        assert_problem(me, 401)

        # The account's other session is untouched.
        await kept.send({"type": "ping"})
        await kept.wait_for("pong", timeout=5.0)
        assert not kept.closed
        assert (await User.get(pooled, "/v1/rooms")).status_code == 200
    finally:
        await asyncio.gather(victim.close(), kept.close(), return_exceptions=True)
