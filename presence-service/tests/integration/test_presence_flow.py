"""One replica against a real broker and database: latencies, derivation, silence, HTTP snapshot."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from chat_contracts import names, types
from chat_runtime.messaging import OutgoingMessage
from fastapi import FastAPI
from presence_replicas import PresenceEnv

HttpFactory = Callable[[FastAPI], httpx.AsyncClient]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(60),
]


def uid() -> str:
    return str(uuid.uuid4())


async def test_online_within_1s_offline_within_2s_and_snapshot(
    presence_env: PresenceEnv, presence_http: HttpFactory
) -> None:
    async with presence_env.replica() as replica, presence_http(replica.app) as http:
        gw = presence_env.gateway()
        user = uid()
        t0 = time.monotonic()
        conn = await gw.open(user)
        online = await presence_env.log.wait_for(user, "online")
        assert online.at - t0 <= 1.0

        snapshot = (await http.get("/v1/presence")).json()["users"]
        assert [(p["user_id"], p["status"], p["connections"]) for p in snapshot] == [
            (user, "online", 1)
        ]

        t1 = time.monotonic()
        await gw.close(conn)
        offline = await presence_env.log.wait_for(user, "offline")
        assert offline.at - t1 <= 2.0
        assert offline.last_seen_at.endswith("Z")

        assert (await http.get("/v1/presence")).json() == {"users": []}
        one = (await http.get("/v1/presence", params={"user_ids": user})).json()["users"]
        assert one == [
            {
                "user_id": user,
                "status": "offline",
                "last_seen_at": offline.last_seen_at,
                "connections": 0,
            }
        ]
        assert [e.status for e in presence_env.log.of(user)] == ["online", "offline"]


async def test_two_tabs_and_away(presence_env: PresenceEnv, presence_http: HttpFactory) -> None:
    async with presence_env.replica() as replica, presence_http(replica.app) as http:
        gw1, gw2 = presence_env.gateway(), presence_env.gateway()
        user = uid()
        tab1 = await gw1.open(user)
        tab2 = await gw2.open(user)
        await presence_env.log.wait_for(user, "online")
        await gw1.close(tab1)  # one tab closes: still online
        await gw2.update(tab2, "away")
        t_away = time.monotonic()
        away = await presence_env.log.wait_for(user, "away")
        assert away.at - t_away <= 1.0
        tab3 = await gw1.open(user, "away")
        await gw1.update(tab3, "online")
        await presence_env.log.wait_for(user, "online", after=away.at)
        body = (await http.get("/v1/presence", params={"user_ids": user})).json()
        assert body["users"][0]["status"] == "online"
        assert body["users"][0]["connections"] == 2
        # Only real transitions went out: online, away, online (no offline in between).
        assert [e.status for e in presence_env.log.of(user)] == ["online", "away", "online"]


async def test_repeated_signals_announce_nothing_more(presence_env: PresenceEnv) -> None:
    async with presence_env.replica():
        gw = presence_env.gateway()
        user = uid()
        conn = await gw.open(user)
        await presence_env.log.wait_for(user, "online")
        await gw.heartbeat()
        await gw.heartbeat()
        await gw.update(conn, "online")
        # A marker user proves the signals above were processed before we count.
        marker = uid()
        await gw.open(marker)
        await presence_env.log.wait_for(marker, "online")
        assert [e.status for e in presence_env.log.of(user)] == ["online"]


async def test_silent_gateway_goes_offline_after_silence(presence_env: PresenceEnv) -> None:
    silence = 2.0
    async with presence_env.replica(gateway_silence_s=silence):
        dying, alive = presence_env.gateway(), presence_env.gateway()
        lost, kept = uid(), uid()
        await dying.open(lost)
        async with alive.heartbeating(0.5):
            await alive.open(kept)
            t0 = time.monotonic()
            await presence_env.log.wait_for(lost, "online")
            offline = await presence_env.log.wait_for(lost, "offline", within_s=silence + 3)
            assert silence - 0.3 <= offline.at - t0 <= silence + 1.0
        assert [e.status for e in presence_env.log.of(kept)] == ["online"]


async def test_heartbeat_repairs_a_lost_close(presence_env: PresenceEnv) -> None:
    async with presence_env.replica():
        gw = presence_env.gateway()
        user = uid()
        conn = await gw.open(user)
        await presence_env.log.wait_for(user, "online")
        await gw.close(conn, silently=True)
        t0 = time.monotonic()
        await gw.heartbeat()
        offline = await presence_env.log.wait_for(user, "offline")
        assert offline.at - t0 <= 1.0


async def test_bad_user_ids_are_a_422_problem(
    presence_env: PresenceEnv, presence_http: HttpFactory
) -> None:
    async with presence_env.replica() as replica, presence_http(replica.app) as http:
        for value in ["not-a-uuid", f"{uid()},", ",".join(uid() for _ in range(501)), "' OR 1=1"]:
            response = await http.get("/v1/presence", params={"user_ids": value})
            assert response.status_code == 422, value
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["code"] == "validation_failed"
            assert problem["errors"]
            assert all(e["field"] == "user_ids" for e in problem["errors"])
            assert problem["detail"]
        many = [uid() for _ in range(500)]
        response = await http.get("/v1/presence", params={"user_ids": ",".join(many)})
        assert response.status_code == 200
        assert len(response.json()["users"]) == 500
        assert {p["status"] for p in response.json()["users"]} == {"offline"}


async def test_unauthenticated_request_is_401(
    presence_env: PresenceEnv, presence_http: HttpFactory
) -> None:
    async with presence_env.replica() as replica:
        replica.app.dependency_overrides.clear()
        async with presence_http(replica.app) as http:
            response = await http.get("/v1/presence")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


async def test_readiness(presence_env: PresenceEnv, presence_http: HttpFactory) -> None:
    async with presence_env.replica() as replica, presence_http(replica.app) as http:
        for _ in range(50):
            response = await http.get("/readyz")
            if response.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert response.status_code == 200, response.text
        assert set(response.json()["checks"]) >= {
            "database",
            "broker",
            "consumers",
            "revocations",
            "tasks",
        }


async def test_revoked_sessions_reach_this_replicas_verifier(presence_env: PresenceEnv) -> None:
    async with presence_env.replica() as replica:
        session = uid()
        revoked = types.AuthSessionRevokedV1(
            session_id=session,
            user_id=uid(),
            revoked_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            reason="logout",
        )
        message = OutgoingMessage.of(names.AUTH_SESSION_REVOKED_V1, revoked)
        (await presence_env.broker.publish(names.EXCHANGE_EVENTS, message)).raise_first()
        revocations = replica.revocations
        assert revocations is not None
        for _ in range(50):
            if revocations.is_revoked(session):
                break
            await asyncio.sleep(0.05)
        assert revocations.is_revoked(session)
