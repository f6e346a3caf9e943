"""Per-user limits (issue #20): POST /v1/invites and people search (GET /v1/users?q=) answer 429
`rate_limited` with Retry-After past CHAT_RATE_INVITE_CREATE / CHAT_RATE_PEOPLE_SEARCH; another
user is unaffected, and lookups by ids are not counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from auth_service.bootstrap import build
from auth_service.settings import AuthSettings
from chat_devtools.auth_harness import STRONG_PASSWORD, stateless_client
from chat_runtime.testing import temporary_database

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    keys: Path = tmp_path_factory.mktemp("lim-auth-keys")
    async with temporary_database("lim_auth") as db:
        settings = AuthSettings(
            database_url=db,
            keys_dir=keys,
            rate_invite_create="2/h",
            rate_people_search="2/min",
            registration="open",
        )
        app = build(settings, connect_bus=False).app
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with stateless_client(transport) as http:
                yield http


async def _signed_in(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    body = {"username": username, "display_name": username.title(), "password": STRONG_PASSWORD}
    assert (await client.post("/v1/auth/register", json=body)).status_code == 201
    r = await client.post(
        "/v1/auth/login", json={"username": username, "password": STRONG_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_invitations_are_limited_per_admin(client: httpx.AsyncClient) -> None:
    owner = await _signed_in(client, "limowner")  # the first account owns the workspace
    admin = await _signed_in(client, "limadmin")
    admin_id = (await client.get("/v1/users/me", headers=admin)).json()["user"]["id"]
    r = await client.post(f"/v1/admin/users/{admin_id}/role", json={"role": "admin"}, headers=owner)
    assert r.status_code == 200, r.text

    for _ in range(2):
        r = await client.post("/v1/invites", headers=owner)
        assert r.status_code == 201, r.text
    refused = await client.post("/v1/invites", headers=owner)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 1800  # one invitation per 30 minutes at 2/h
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert body["detail"].startswith("You are creating invitations too fast. Please wait")
    assert (await client.post("/v1/invites", headers=admin)).status_code == 201


async def test_people_search_is_limited_per_user(client: httpx.AsyncClient) -> None:
    alice = await _signed_in(client, "limalice")
    bob = await _signed_in(client, "limbob")
    alice_id = (await client.get("/v1/users/me", headers=alice)).json()["user"]["id"]

    async def search(headers: dict[str, str]) -> httpx.Response:
        return await client.get("/v1/users", params={"q": "lim"}, headers=headers)

    for _ in range(2):
        r = await search(alice)
        assert r.status_code == 200, r.text
    refused = await search(alice)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 30  # one search per 30 seconds at 2/min
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert body["detail"].startswith(
        f"You are searching for people too fast. Please wait {retry_after} second"
    )
    # Naming people by id (what the client does for every member list) is not a search.
    r = await client.get("/v1/users", params={"ids": alice_id}, headers=alice)
    assert r.status_code == 200, r.text
    assert [u["id"] for u in r.json()["users"]] == [alice_id]
    assert (await search(bob)).status_code == 200


async def test_the_limits_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "429" in paths["/v1/invites"]["post"]["responses"]
    assert "429" in paths["/v1/users"]["get"]["responses"]
    assert "429" not in paths["/v1/users/me"]["get"]["responses"]
