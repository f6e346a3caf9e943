"""End-to-end flows of api-v1 §3 against a real database and broker (one app per module)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest
import sqlalchemy as sa
from auth_service import housekeeping
from auth_service.hashing import PasswordHasher
from auth_service.store import sessions, throttle_counters, users
from chat_contracts import names, types
from chat_devtools.auth_harness import ORIGIN, STRONG_PASSWORD, AuthHarness, client_from
from chat_runtime.db import create_engine
from chat_runtime.features import IMPLEMENTED, KNOWN
from chat_runtime.messaging import Broker
from chat_runtime.tokens import InvalidToken, RevocationSet, TokenVerifier, load_revocations

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh_cookie(response: httpx.Response) -> str:
    value = response.cookies.get("chat_refresh")
    assert value, response.headers.get("set-cookie")
    return value


async def post_refresh(h: AuthHarness, token: str) -> httpx.Response:
    return await h.client.post(
        "/v1/auth/refresh", headers={"Cookie": f"chat_refresh={token}"}, json={}
    )


@asynccontextmanager
async def captured_events(
    h: AuthHarness, pattern: str = "auth.#"
) -> AsyncIterator[asyncio.Queue[tuple[str, dict[str, Any]]]]:
    """Bind a private queue to chat.events and collect (type, body) of what arrives."""
    connection = await aio_pika.connect(h.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(names.EXCHANGE_EVENTS, routing_key=pattern)
        seen: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                await seen.put((message.type or "", json.loads(message.body)))

        await queue.consume(on_message)
        yield seen
    finally:
        await connection.close()


async def next_event(seen: asyncio.Queue[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    return await asyncio.wait_for(seen.get(), 10)


async def test_register_login_me(auth_it: AuthHarness) -> None:
    async with captured_events(auth_it) as seen:
        user = await auth_it.register("Alice")
        type_name, body = await next_event(seen)
    assert type_name == names.AUTH_USER_REGISTERED_V1
    assert body == {"user": user}
    assert user["username"] == "alice"
    assert user["display_name"] == "Alice"
    assert user["created_at"].endswith("Z")
    uuid.UUID(user["id"])
    r = await auth_it.login("ALICE")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["user"] == user
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/v1/auth" in cookie
    assert "Max-Age=2592000" in cookie
    assert "Secure" not in cookie  # dev
    me = await auth_it.client.get("/v1/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    # CHAT_FEATURES unset: every feature this release implements is on.
    assert me.json() == {"user": user, "features": sorted(IMPLEMENTED, key=KNOWN.index)}


async def test_registration_reports_every_rule(auth_it: AuthHarness) -> None:
    r = await auth_it.client.post(
        "/v1/auth/register",
        json={"username": "x!", "display_name": "   ", "password": "password"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "validation_failed"
    got = {(e["field"], e["code"]) for e in problem["errors"]}
    assert got == {
        ("username", "too_short"),
        ("username", "invalid_characters"),
        ("display_name", "too_short"),
        ("password", "too_short"),
        ("password", "common_password"),
        ("password", "too_guessable"),
    }
    messages = [e["message"] for e in problem["errors"]]
    assert "Use at least 12 characters (you used 8)." in messages


async def test_usernames_differing_by_case_are_one_account(auth_it: AuthHarness) -> None:
    await auth_it.register("CaseUser")
    r = await auth_it.client.post(
        "/v1/auth/register",
        json={"username": "caseuser", "display_name": "Other", "password": STRONG_PASSWORD},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "username_taken"
    r = await auth_it.client.post(
        "/v1/auth/register",
        json={"username": "CASEUSER", "display_name": "Other", "password": STRONG_PASSWORD},
    )
    assert r.status_code == 409


async def test_refresh_rotates_and_two_tabs_stay_signed_in(auth_it: AuthHarness) -> None:
    await auth_it.register("tabs")
    login = await auth_it.login("tabs")
    t1 = refresh_cookie(login)
    # Two tabs refresh with the same cookie at the same moment.
    a, b = await asyncio.gather(post_refresh(auth_it, t1), post_refresh(auth_it, t1))
    assert a.status_code == 200, a.text
    assert b.status_code == 200, b.text
    t2 = refresh_cookie(a)
    assert t2 != t1
    assert refresh_cookie(b) == t2  # the same successor for both
    for r in (a, b):
        me = await auth_it.client.get("/v1/users/me", headers=bearer(r.json()["access_token"]))
        assert me.status_code == 200
    c = await post_refresh(auth_it, t2)
    assert c.status_code == 200
    assert refresh_cookie(c) not in (t1, t2)


async def test_stolen_old_refresh_token_ends_the_session(auth_it: AuthHarness) -> None:
    await auth_it.register("victim")
    login = await auth_it.login("victim")
    t1 = refresh_cookie(login)
    t2 = refresh_cookie(await post_refresh(auth_it, t1))
    t3_resp = await post_refresh(auth_it, t2)
    access = t3_resp.json()["access_token"]
    t3 = refresh_cookie(t3_resp)
    async with captured_events(auth_it, names.AUTH_SESSION_REVOKED_V1) as seen:
        # The thief replays t1 (two rotations old): the whole session ends.
        stolen = await post_refresh(auth_it, t1)
        assert stolen.status_code == 401
        assert stolen.json()["code"] == "invalid_refresh"
        assert "Max-Age=0" in stolen.headers["set-cookie"]
        type_name, body = await next_event(seen)
    assert type_name == names.AUTH_SESSION_REVOKED_V1
    assert body["reason"] == "refresh_reuse"
    assert body["user_id"] == login.json()["user"]["id"]
    # ...for everyone: the legitimate holder's newest token and access token are dead too.
    assert (await post_refresh(auth_it, t3)).status_code == 401
    me = await auth_it.client.get("/v1/users/me", headers=bearer(access))
    assert me.status_code == 401


async def test_refresh_without_or_with_garbage_cookie(auth_it: AuthHarness) -> None:
    r = await auth_it.client.post("/v1/auth/refresh", json={})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_refresh"
    r = await post_refresh(auth_it, "x" * 5000)
    assert r.status_code == 401


async def test_logout_with_cookie_ends_session_in_every_tab(auth_it: AuthHarness) -> None:
    await auth_it.register("leaver")
    login = await auth_it.login("leaver")
    access = login.json()["access_token"]
    t1 = refresh_cookie(login)
    async with captured_events(auth_it, names.AUTH_SESSION_REVOKED_V1) as seen:
        r = await auth_it.client.post(
            "/v1/auth/logout", headers={"Cookie": f"chat_refresh={t1}"}, json={}
        )
        assert r.status_code == 204
        assert "Max-Age=0" in r.headers["set-cookie"]
        _, body = await next_event(seen)
    assert body["reason"] == "logout"
    assert body["session_id"]
    assert (await post_refresh(auth_it, t1)).status_code == 401
    assert (await auth_it.client.get("/v1/users/me", headers=bearer(access))).status_code == 401
    # Signing out again is harmless.
    again = await auth_it.client.post(
        "/v1/auth/logout", headers={"Cookie": f"chat_refresh={t1}"}, json={}
    )
    assert again.status_code == 204


async def test_logout_with_bearer(auth_it: AuthHarness) -> None:
    await auth_it.register("bearerleaver")
    login = await auth_it.login("bearerleaver")
    access = login.json()["access_token"]
    r = await auth_it.client.post("/v1/auth/logout", headers=bearer(access))
    assert r.status_code == 204
    assert (await auth_it.client.get("/v1/users/me", headers=bearer(access))).status_code == 401
    assert (await post_refresh(auth_it, refresh_cookie(login))).status_code == 401


async def test_logout_all(auth_it: AuthHarness) -> None:
    await auth_it.register("everywhere")
    first = await auth_it.login("everywhere")
    second = await auth_it.login("everywhere")
    async with captured_events(auth_it, names.AUTH_SESSION_REVOKED_V1) as seen:
        r = await auth_it.client.post(
            "/v1/auth/logout-all", headers=bearer(first.json()["access_token"])
        )
        assert r.status_code == 204
        events = [await next_event(seen), await next_event(seen)]
    assert {b["reason"] for _, b in events} == {"logout_all"}
    assert len({b["session_id"] for _, b in events}) == 2
    for login in (first, second):
        assert (await post_refresh(auth_it, refresh_cookie(login))).status_code == 401
    unauth = await auth_it.client.post("/v1/auth/logout-all")
    assert unauth.status_code == 401


async def test_password_change(auth_it: AuthHarness) -> None:
    await auth_it.register("changer")
    mine = await auth_it.login("changer")
    other = await auth_it.login("changer")
    access = mine.json()["access_token"]
    wrong = await auth_it.client.post(
        "/v1/auth/password",
        headers=bearer(access),
        json={
            "current_password": "not-my-password-at-all",
            "new_password": "quartz-lantern-meadow-93",
        },
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_credentials"
    weak = await auth_it.client.post(
        "/v1/auth/password",
        headers=bearer(access),
        json={"current_password": STRONG_PASSWORD, "new_password": "changer12345"},
    )
    assert weak.status_code == 422
    assert {e["code"] for e in weak.json()["errors"]} >= {"contains_username"}
    assert {e["field"] for e in weak.json()["errors"]} == {"new_password"}
    async with captured_events(auth_it, names.AUTH_SESSION_REVOKED_V1) as seen:
        ok = await auth_it.client.post(
            "/v1/auth/password",
            headers=bearer(access),
            json={"current_password": STRONG_PASSWORD, "new_password": "quartz-lantern-meadow-93"},
        )
        assert ok.status_code == 204, ok.text
        _, body = await next_event(seen)
    assert body["reason"] == "password_changed"
    # Other sessions end; this one goes on.
    assert (await post_refresh(auth_it, refresh_cookie(other))).status_code == 401
    assert (await auth_it.client.get("/v1/users/me", headers=bearer(access))).status_code == 200
    assert (await auth_it.login("changer")).status_code == 401
    assert (await auth_it.login("changer", "quartz-lantern-meadow-93")).status_code == 200


async def test_user_search_and_lookup(auth_it: AuthHarness) -> None:
    a = await auth_it.register("searchable_one", display_name="Zed Quux")
    b = await auth_it.register("searchable_two", display_name="Yolanda")
    access = (await auth_it.login("searchable_one")).json()["access_token"]
    h = bearer(access)
    r = await auth_it.client.get("/v1/users", params={"q": "Searchable_"}, headers=h)
    assert r.status_code == 200
    assert [u["username"] for u in r.json()["users"]] == ["searchable_one", "searchable_two"]
    r = await auth_it.client.get("/v1/users", params={"q": "zed q"}, headers=h)
    assert [u["id"] for u in r.json()["users"]] == [a["id"]]
    r = await auth_it.client.get("/v1/users", params={"q": "searchable", "limit": 1}, headers=h)
    assert len(r.json()["users"]) == 1
    # LIKE wildcards are data, not patterns.
    r = await auth_it.client.get("/v1/users", params={"q": "%"}, headers=h)
    assert r.json()["users"] == []
    r = await auth_it.client.get("/v1/users", params={"q": "s_arch"}, headers=h)
    assert r.json()["users"] == []
    r = await auth_it.client.get(
        "/v1/users", params={"ids": f"{a['id']},{b['id']},{uuid.uuid4()}"}, headers=h
    )
    assert {u["id"] for u in r.json()["users"]} == {a["id"], b["id"]}
    bad_params: list[dict[str, str | int]] = [
        {"ids": "not-a-uuid"},
        {"ids": f"{a['id']},zzz"},
        {"q": "a", "ids": a["id"]},
        {},
        {"q": "a", "limit": 0},
        {"q": "a", "limit": 51},
        {"q": "a", "limit": "many"},
        {"q": ""},
    ]
    for params in bad_params:
        bad = await auth_it.client.get("/v1/users", params=params, headers=h)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["code"] == "validation_failed"
    assert (await auth_it.client.get("/v1/users", params={"q": "a"})).status_code == 401


async def test_jwks_and_shared_verifier_end_to_end(auth_it: AuthHarness) -> None:
    await auth_it.register("verified")
    login = await auth_it.login("verified")
    access = login.json()["access_token"]
    jwks = (await auth_it.client.get("/v1/auth/jwks")).json()
    assert jwks["keys"]
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in jwks["keys"])
    # The runtime's verifier (what every other service uses) accepts our tokens via our JWKS.
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=auth_it.app), base_url="http://auth")
    revocations = RevocationSet()
    verifier = TokenVerifier("http://auth/v1/auth/jwks", http=http, revocations=revocations)
    broker = Broker(auth_it.amqp_url, service="verifier-test")
    await broker.connect()
    try:
        claims = await verifier.verify(access)
        assert claims.user_id == login.json()["user"]["id"]
        r = await auth_it.client.post("/v1/auth/logout", headers=bearer(access))
        assert r.status_code == 204
        # A verifier starting now loads the revocation from our responder and refuses the token.
        assert await load_revocations(broker, revocations) >= 1
        with pytest.raises(InvalidToken) as exc:
            await verifier.verify(access)
        assert exc.value.reason == "revoked"
    finally:
        await broker.close()
        await http.aclose()


async def test_revocations_responder_lists_recent_sessions(auth_it: AuthHarness) -> None:
    await auth_it.register("responder")
    login = await auth_it.login("responder")
    await auth_it.client.post("/v1/auth/logout", headers=bearer(login.json()["access_token"]))
    broker = Broker(auth_it.amqp_url, service="responder-test")
    await broker.connect()
    try:
        reply = await broker.request(
            names.AUTH_QUERY_QUEUE,
            types.AuthRevocationsQueryV1(),
            reply_type=types.AuthRevocationsReplyV1,
        )
    finally:
        await broker.close()
    me = login.json()["user"]["id"]
    assert any(s.user_id == me for s in reply.sessions)
    assert all(s.revoked_at.endswith("Z") for s in reply.sessions)


async def test_rehash_on_login_when_parameters_change(auth_it: AuthHarness) -> None:
    await auth_it.register("rehash")
    deps = auth_it.app.state.auth
    old_hasher = deps.hasher
    deps.hasher = PasswordHasher(memory_cost_kib=19456, time_cost=3, parallelism=1, concurrency=2)
    try:
        assert (await auth_it.login("rehash")).status_code == 200
    finally:
        deps.hasher = old_hasher
    engine = create_engine(auth_it.database_url)
    try:
        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    sa.select(users.c.password_hash).where(users.c.username == "rehash")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert stored.startswith("$argon2id$")
    assert ",t=3," in stored


async def test_readiness_and_origin_rules(auth_it: AuthHarness) -> None:
    ready = await auth_it.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {
        "database": True,
        "tasks": True,
        "broker": True,
        "consumers": True,
    }
    await auth_it.register("origin_user")
    ok = await auth_it.login("origin_user", headers={"Origin": ORIGIN})
    assert ok.status_code == 200
    other = client_from(auth_it, "127.0.0.1")
    async with other:
        r = await other.post(
            "/v1/auth/login",
            json={"username": "origin_user", "password": STRONG_PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
    assert r.status_code == 403
    assert r.json()["code"] == "origin_not_allowed"


async def test_login_burst_does_not_stall_other_requests(auth_it: AuthHarness) -> None:
    """argon2 runs in worker threads: while a burst of logins hashes, the loop keeps serving."""
    async with client_from(auth_it, "192.0.2.77") as c:
        burst = [
            asyncio.create_task(
                c.post("/v1/auth/login", json={"username": f"burst_{i}", "password": "x" * 20})
            )
            for i in range(16)
        ]
        started = time.perf_counter()
        await asyncio.sleep(0)  # let the burst reach the hasher
        health = await auth_it.client.get("/healthz")
        health_latency = time.perf_counter() - started
        results = await asyncio.gather(*burst)
        burst_duration = time.perf_counter() - started
    assert health.status_code == 200
    assert [r.status_code for r in results] == [401] * 16
    assert health_latency < burst_duration / 2, (health_latency, burst_duration)


async def test_housekeeping_forgets_stale_counters_and_expired_sessions(
    auth_it: AuthHarness,
) -> None:
    user = await auth_it.register("housekeeping")
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    far_future = datetime(2999, 1, 1, tzinfo=UTC)
    engine = create_engine(auth_it.database_url)
    try:
        async with engine.begin() as conn:
            for key, blocked in (("stale", long_ago), ("still-blocked", far_future)):
                await conn.execute(
                    sa.insert(throttle_counters).values(
                        scope="pair", key=key, window_start=long_ago, count=9, blocked_until=blocked
                    )
                )
            await conn.execute(
                sa.insert(sessions).values(
                    id=uuid.uuid4(),
                    user_id=uuid.UUID(user["id"]),
                    created_at=long_ago,
                    expires_at=long_ago,
                )
            )
        await housekeeping.purge(auth_it.app.state.auth)
        async with engine.connect() as conn:
            keys = set((await conn.execute(sa.select(throttle_counters.c.key))).scalars())
            old = sa.select(sa.func.count()).where(sessions.c.expires_at == long_ago)
            old_sessions = (await conn.execute(old)).scalar_one()
    finally:
        await engine.dispose()
    assert "stale" not in keys
    assert "still-blocked" in keys
    assert old_sessions == 0
