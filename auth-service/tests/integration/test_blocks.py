"""Blocking of api-v1.1 C against a real database and broker: the endpoints, idempotency, the
auth.block.changed.v1 rows the outbox holds (valid, one per real change, versions growing per
pair), deactivated and deleted accounts, and the `blocking` feature switch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from auth_service.store import outbox
from chat_contracts import names, validate
from chat_devtools.auth_harness import STRONG_PASSWORD, AuthHarness, auth_harness
from chat_runtime.db import create_engine

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def member(h: AuthHarness, name: str) -> tuple[str, dict[str, str]]:
    """(user id, Authorization header) of a new account."""
    user = await h.register(name)
    r = await h.login(name)
    assert r.status_code == 200, r.text
    return str(user["id"]), bearer(r.json()["access_token"])


@dataclass
class Workspace:
    h: AuthHarness
    owner: dict[str, str]  # the owner's Authorization header (may deactivate others)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ws(auth_it: AuthHarness) -> AsyncIterator[Workspace]:
    """The module's harness; its first account is the owner."""
    _, owner = await member(auth_it, "blowner")
    yield Workspace(auth_it, owner)


async def announced(h: AuthHarness, blocker: str, blocked: str) -> list[dict[str, Any]]:
    """The auth.block.changed.v1 bodies the outbox holds for one pair, in commit order; each is
    checked against the contract."""
    engine = create_engine(h.database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(outbox.c.type_name, outbox.c.routing_key, outbox.c.body)
                    .where(
                        outbox.c.type_name == names.AUTH_BLOCK_CHANGED_V1,
                        outbox.c.body["blocker_id"].astext == blocker,
                        outbox.c.body["blocked_id"].astext == blocked,
                    )
                    .order_by(outbox.c.seq)
                )
            ).all()
    finally:
        await engine.dispose()
    for type_name, routing_key, body in rows:
        assert (type_name, routing_key) == (names.AUTH_BLOCK_CHANGED_V1,) * 2
        validate(names.AUTH_BLOCK_CHANGED_V1, body)
    return [row.body for row in rows]


async def blocks_of(h: AuthHarness, headers: dict[str, str]) -> list[str]:
    r = await h.client.get("/v1/users/me/blocks", headers=headers)
    assert r.status_code == 200, r.text
    ids: list[str] = r.json()["user_ids"]
    return ids


async def test_block_unblock_list_and_announce(ws: Workspace) -> None:
    h = ws.h
    ana, ana_h = await member(h, "blana")
    bo, _ = await member(h, "blbo")
    cy, _ = await member(h, "blcy")
    assert await blocks_of(h, ana_h) == []
    for _ in range(2):  # idempotent: the repeat changes and announces nothing
        r = await h.client.put(f"/v1/users/{bo}/block", headers=ana_h)
        assert r.status_code == 204, r.text
        assert r.content == b""
    assert await blocks_of(h, ana_h) == [bo]
    assert (await h.client.put(f"/v1/users/{cy}/block", headers=ana_h)).status_code == 204
    assert await blocks_of(h, ana_h) == [cy, bo]  # newest first
    for _ in range(2):
        r = await h.client.delete(f"/v1/users/{bo}/block", headers=ana_h)
        assert r.status_code == 204, r.text
    assert await blocks_of(h, ana_h) == [cy]
    # Unblocking someone never blocked changes nothing either.
    dee, _ = await member(h, "bldee")
    assert (await h.client.delete(f"/v1/users/{dee}/block", headers=ana_h)).status_code == 204
    assert await announced(h, ana, dee) == []
    # Blocked again: the newest once more, and the pair's version keeps growing.
    assert (await h.client.put(f"/v1/users/{bo}/block", headers=ana_h)).status_code == 204
    assert await blocks_of(h, ana_h) == [bo, cy]
    assert await announced(h, ana, bo) == [
        {"blocker_id": ana, "blocked_id": bo, "blocked": True, "version": 1},
        {"blocker_id": ana, "blocked_id": bo, "blocked": False, "version": 2},
        {"blocker_id": ana, "blocked_id": bo, "blocked": True, "version": 3},
    ]
    assert [e["version"] for e in await announced(h, ana, cy)] == [1]


async def test_blocks_are_one_way_and_per_user(ws: Workspace) -> None:
    h = ws.h
    ana, ana_h = await member(h, "blwayana")
    bo, bo_h = await member(h, "blwaybo")
    assert (await h.client.put(f"/v1/users/{bo}/block", headers=ana_h)).status_code == 204
    assert await blocks_of(h, bo_h) == []
    # Bo blocking back is a pair of its own, with its own versions.
    assert (await h.client.put(f"/v1/users/{ana}/block", headers=bo_h)).status_code == 204
    assert [e["version"] for e in await announced(h, bo, ana)] == [1]
    assert await blocks_of(h, bo_h) == [ana]
    assert await blocks_of(h, ana_h) == [bo]


async def test_refusals(ws: Workspace) -> None:
    h = ws.h
    me, me_h = await member(h, "blself")
    for method in ("PUT", "DELETE"):
        r = await h.client.request(method, f"/v1/users/{me}/block", headers=me_h)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "validation_failed"
        assert r.json()["errors"][0]["field"] == "user_id"
        r = await h.client.request(method, f"/v1/users/{uuid.uuid4()}/block", headers=me_h)
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "not_found"
        r = await h.client.request(method, "/v1/users/not-a-uuid/block", headers=me_h)
        assert r.status_code == 422, r.text
        r = await h.client.request(method, f"/v1/users/{uuid.uuid4()}/block")
        assert r.status_code == 401
    assert (await h.client.get("/v1/users/me/blocks")).status_code == 401
    assert await announced(h, me, me) == []


async def test_deactivated_and_deleted_accounts(ws: Workspace) -> None:
    h = ws.h
    owner_h = ws.owner
    _, ana_h = await member(h, "bldelana")
    gone, _ = await member(h, "bldeact")
    r = await h.client.post(f"/v1/admin/users/{gone}/deactivate", headers=owner_h)
    assert r.status_code == 200, r.text
    # A deactivated account can be blocked (and unblocked).
    assert (await h.client.put(f"/v1/users/{gone}/block", headers=ana_h)).status_code == 204
    assert await blocks_of(h, ana_h) == [gone]
    # An account deleted after being blocked: the block stays until its blocker lifts it; an
    # erased account cannot be blocked anew.
    erased, erased_h = await member(h, "bldeleted")
    assert (await h.client.put(f"/v1/users/{erased}/block", headers=ana_h)).status_code == 204
    r = await h.client.request(
        "DELETE", "/v1/users/me", json={"password": STRONG_PASSWORD}, headers=erased_h
    )
    assert r.status_code == 204, r.text
    assert await blocks_of(h, ana_h) == [erased, gone]
    assert (await h.client.delete(f"/v1/users/{erased}/block", headers=ana_h)).status_code == 204
    r = await h.client.put(f"/v1/users/{erased}/block", headers=ana_h)
    assert r.status_code == 404, r.text
    assert await blocks_of(h, ana_h) == [gone]


async def test_blocking_feature_off(tmp_path: Path) -> None:
    async with auth_harness(tmp_path, features="entries,admin") as h:
        ana, ana_h = await member(h, "bloffana")
        bo, _ = await member(h, "bloffbo")
        me = await h.client.get("/v1/users/me", headers=ana_h)
        assert "blocking" not in me.json()["features"]
        for method, path in (
            ("PUT", f"/v1/users/{bo}/block"),
            ("DELETE", f"/v1/users/{bo}/block"),
            ("GET", "/v1/users/me/blocks"),
        ):
            r = await h.client.request(method, path, headers=ana_h)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["code"] == "feature_disabled"
        assert await announced(h, ana, bo) == []
