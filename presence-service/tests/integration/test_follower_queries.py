"""With several replicas, every one answers queries while one (the advisory-lock holder)
announces (api-v1 §5). A follower rebuilds the state from the same signals and reads what only
the leader writes (last_seen_at of users it never saw, the announced set at its start) from the
database; these tests ask the follower, never the leader."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from presence_replicas import PresenceEnv

HttpFactory = Callable[[FastAPI], httpx.AsyncClient]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(90),
]

ONLINE_WITHIN_S = 1.0  # api-v1 §5
OFFLINE_WITHIN_S = 2.0
WRITE_EVERY_S = 1.0  # PresenceSettings.announced_write_every_s: the leader's table lags by this


def seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def uid() -> str:
    return str(uuid.uuid4())


async def presence_of(http: httpx.AsyncClient, *user_ids: str) -> dict[str, dict[str, Any]]:
    r = await http.get("/v1/presence", params={"user_ids": ",".join(user_ids)})
    assert r.status_code == 200, r.text
    return {p["user_id"]: p for p in r.json()["users"]}


async def answered(
    http: httpx.AsyncClient, user_id: str, status: str, *, since: float, within_s: float
) -> dict[str, Any]:
    """The follower's answer for `user_id` once it says `status`; fails past the spec's
    deadline counted from `since` (a query has no event to wait on, so it is asked again)."""
    while True:
        found = (await presence_of(http, user_id))[user_id]
        if found["status"] == status:
            return found
        waited = time.monotonic() - since
        assert waited <= within_s, f"still {found} after {waited:.2f}s (wanted {status})"
        await asyncio.sleep(0.05)


async def recorded(leader: Any, user_id: str, status: str) -> None:
    """Wait until the leader's announced table says `status` for `user_id`: the leader
    publishes first and writes the table in batches every WRITE_EVERY_S, and a replica that
    starts reads the table (a replica starting inside that lag holds the previous status for
    one recovery round, like any restart)."""
    store = leader.state.leader.service.store
    deadline = time.monotonic() + WRITE_EVERY_S + 1.0
    while True:
        # The announced set holds who is online or away; an offline row keeps last_seen_at.
        row = (await store.load_announced()).get(user_id)
        if status == "offline":
            if row is None and user_id in await store.last_seen([user_id]):
                return
        elif row is not None and row.status == status:
            return
        assert time.monotonic() < deadline, f"{user_id} not recorded {status}: {row}"
        await asyncio.sleep(0.05)


async def test_a_follower_answers_queries_while_another_replica_leads(
    presence_env: PresenceEnv, presence_http: HttpFactory
) -> None:
    gw = presence_env.gateway()
    gone, stays, fresh, never = uid(), uid(), uid(), uid()
    async with gw.heartbeating(1.0), presence_env.replica() as leader:
        await asyncio.wait_for(leader.state.leader.leading.wait(), 5)

        # Before the follower exists: one user comes and goes, another stays.
        gone_conn = await gw.open(gone)
        await gw.open(stays)
        await presence_env.log.wait_for(gone, "online")
        await presence_env.log.wait_for(stays, "online")
        await gw.close(gone_conn)
        gone_offline = await presence_env.log.wait_for(gone, "offline")
        await recorded(leader, gone, "offline")
        await recorded(leader, stays, "online")

        async with (
            presence_env.replica() as follower,
            presence_http(follower.app) as http,
        ):
            assert leader.state.leader.is_leader
            assert not follower.state.leader.is_leader

            # What the follower never saw comes from what the leader stored.
            at_start = await presence_of(http, gone, stays, never)
            assert at_start[gone] == {
                "user_id": gone,
                "status": "offline",
                "last_seen_at": gone_offline.last_seen_at,
                "connections": 0,
            }
            assert at_start[stays]["status"] == "online"
            assert at_start[never]["status"] == "offline"
            assert at_start[never]["last_seen_at"] is None

            # While it follows: a user arrives, goes away, leaves; the follower answers each
            # state within the spec's deadlines, and its snapshot lists who is there.
            t0 = time.monotonic()
            conn = await gw.open(fresh)
            seen = await answered(http, fresh, "online", since=t0, within_s=ONLINE_WITHIN_S)
            assert seen["connections"] == 1
            everyone = (await http.get("/v1/presence")).json()["users"]
            assert {p["user_id"] for p in everyone} >= {stays, fresh}
            assert gone not in {p["user_id"] for p in everyone}

            t1 = time.monotonic()
            await gw.update(conn, "away")
            await answered(http, fresh, "away", since=t1, within_s=ONLINE_WITHIN_S)

            t2 = time.monotonic()
            await gw.close(conn)
            left = await answered(http, fresh, "offline", since=t2, within_s=OFFLINE_WITHIN_S)
            announced = await presence_env.log.wait_for(fresh, "offline")
            # Each replica stamps the close with its own clock when it handles the signal.
            apart = abs(seconds(left["last_seen_at"]) - seconds(announced.last_seen_at))
            assert apart <= 0.5, (left, announced)
            snapshot = {p["user_id"] for p in (await http.get("/v1/presence")).json()["users"]}
            assert fresh not in snapshot
            assert stays in snapshot

            # All of it was announced once, by the leader alone.
            assert follower.state.leader.announced_total == 0
            assert [e.status for e in presence_env.log.of(fresh)] == ["online", "away", "offline"]
            assert [e.status for e in presence_env.log.of(gone)] == ["online", "offline"]
            assert [e.status for e in presence_env.log.of(stays)] == ["online"]
