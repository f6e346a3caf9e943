"""Authorization matrix of api-v1.1 C over REST: every new endpoint by actor (owner, admin,
member, deactivated, anonymous) by target role → status. Roles come from the database, never
from tokens; admins act on members only, the owner on admins too, nobody on the owner.

A case whose expected status is a success acts on a fresh target (it changes it); refused
cases act on shared targets (a refusal changes nothing, which the last test checks)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from chat_devtools.auth_harness import AuthHarness, auth_harness

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

ACTORS = ("owner", "admin", "member", "deactivated", "anonymous")
TARGETS = ("owner", "admin", "member")


@dataclass
class World:
    h: AuthHarness
    tokens: dict[str, str | None]
    ids: dict[str, str]
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def headers(self, actor: str) -> dict[str, str]:
        token = self.tokens[actor]
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def user(self, role: str) -> str:
        """A fresh account with `role` (made admin by the owner)."""
        name = f"t{role}{next(self.counter)}"
        user = await self.h.register(name)
        if role == "admin":
            r = await self.h.client.post(
                f"/v1/admin/users/{user['id']}/role",
                json={"role": "admin"},
                headers=self.headers("owner"),
            )
            assert r.status_code == 200, r.text
        return str(user["id"])


async def token_of(h: AuthHarness, username: str) -> str:
    r = await h.login(username)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with auth_harness(tmp_path_factory.mktemp("keys"), register_address_limit=10_000) as h:
        owner = await h.register("mowner")  # the first account: the owner
        assert owner["role"] == "owner"
        w = World(h, {"anonymous": None}, {"owner": str(owner["id"])})
        w.tokens["owner"] = await token_of(h, "mowner")
        for name in ("madmin", "mmember", "mdeact"):
            await h.register(name)
        w.ids["admin"] = (
            await h.client.get("/v1/users", params={"q": "madmin"}, headers=w.headers("owner"))
        ).json()["users"][0]["id"]
        for name in ("madmin", "mmember", "mdeact"):
            w.tokens[name[1:]] = await token_of(h, name)
        users = (
            await h.client.get("/v1/users", params={"q": "m"}, headers=w.headers("owner"))
        ).json()["users"]
        by_name = {u["username"]: u["id"] for u in users}
        w.ids["member"] = by_name["mmember"]
        for name in ("madmin", "mdeact"):  # the deactivated actor was an admin
            r = await h.client.post(
                f"/v1/admin/users/{by_name[name]}/role",
                json={"role": "admin"},
                headers=w.headers("owner"),
            )
            assert r.status_code == 200, r.text
        r = await h.client.post(
            f"/v1/admin/users/{by_name['mdeact']}/deactivate", headers=w.headers("owner")
        )
        assert r.status_code == 200, r.text
        w.tokens["deactivated"] = w.tokens.pop("deact")
        yield w


def expected_on_target(actor: str, target: str, *, owner_only: bool, ok: int) -> int:
    if actor in ("deactivated", "anonymous"):
        return 401
    if actor == "owner":
        return 403 if target == "owner" else ok
    if actor == "admin" and not owner_only:
        return ok if target == "member" else 403
    return 403


TARGETED = {
    # name: (path suffix, body, owner only, success status)
    "role_admin": ("role", {"role": "admin"}, True, 200),
    "role_member": ("role", {"role": "member"}, True, 200),
    "deactivate": ("deactivate", None, False, 200),
    "reactivate": ("reactivate", None, False, 200),
    "password_reset": ("password-reset", None, False, 201),
}

CASES = [
    (endpoint, actor, target, expected_on_target(actor, target, owner_only=spec[2], ok=spec[3]))
    for endpoint, spec in TARGETED.items()
    for actor in ACTORS
    for target in TARGETS
]


@pytest.mark.parametrize(("endpoint", "actor", "target", "expected"), CASES)
async def test_targeted_actions(
    world: World, endpoint: str, actor: str, target: str, expected: int
) -> None:
    suffix, body, _, _ = TARGETED[endpoint]
    if expected < 300:
        target_id = await world.user(target)
    else:
        target_id = world.ids[target]
    kwargs: dict[str, Any] = {"headers": world.headers(actor)}
    if body is not None:
        kwargs["json"] = body
    r = await world.h.client.post(f"/v1/admin/users/{target_id}/{suffix}", **kwargs)
    assert r.status_code == expected, r.text
    if expected == 403:
        assert r.json()["code"] == "forbidden"
    if expected == 401:
        assert r.json()["code"] == "unauthorized"
    if expected == 200:
        user = r.json()["user"]
        assert user["id"] == target_id
        if endpoint == "deactivate":
            assert user["deactivated"] is True
        if endpoint.startswith("role_"):
            assert user["role"] == body["role"]  # type: ignore[index]
    if expected == 201:
        assert "/#/reset?token=" in r.json()["reset_url"]


UNTARGETED = {
    # name: (method, path, body, success status for owner and admin)
    "list_users": ("GET", "/v1/admin/users", None, 200),
    "audit": ("GET", "/v1/admin/audit", None, 200),
    "invite": ("POST", "/v1/invites", None, 201),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", list(UNTARGETED))
async def test_untargeted_endpoints(world: World, endpoint: str, actor: str) -> None:
    method, path, body, ok = UNTARGETED[endpoint]
    expected = {"owner": ok, "admin": ok, "member": 403}.get(actor, 401)
    r = await world.h.client.request(method, path, json=body, headers=world.headers(actor))
    assert r.status_code == expected, r.text


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("target", ["admin", "member"])
async def test_owner_transfer_refused_to_everyone_but_the_owner(
    world: World, actor: str, target: str
) -> None:
    if actor == "owner":
        pytest.skip("the owner's transfer changes the world: test_people.py covers it")
    expected = 403 if actor in ("admin", "member") else 401
    r = await world.h.client.post(
        "/v1/admin/owner", json={"user_id": world.ids[target]}, headers=world.headers(actor)
    )
    assert r.status_code == expected, r.text


async def test_refusals_changed_nothing(world: World) -> None:
    r = await world.h.client.get("/v1/admin/users", headers=world.headers("owner"))
    by_id = {u["id"]: u for u in r.json()["users"]}
    assert by_id[world.ids["owner"]]["role"] == "owner"
    assert by_id[world.ids["owner"]]["deactivated"] is False
    assert by_id[world.ids["admin"]]["role"] == "admin"
    assert by_id[world.ids["admin"]]["deactivated"] is False
    assert by_id[world.ids["member"]]["role"] == "member"
    assert by_id[world.ids["member"]]["deactivated"] is False


SELF_SERVICE = {
    # name: (method, path, body, status for a signed-in actor)
    "sessions": ("GET", "/v1/auth/sessions", None, 200),
    "end_unknown_session": (
        "DELETE",
        "/v1/auth/sessions/0b7e3f2a-5c1d-4e8f-9a6b-2d4c8e1f0a3b",
        None,
        404,
    ),
    "profile": ("PATCH", "/v1/users/me", {}, 200),
    "delete_me_wrong_password": ("DELETE", "/v1/users/me", {"password": "not-it-at-all"}, 401),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", list(SELF_SERVICE))
async def test_self_service_endpoints(world: World, endpoint: str, actor: str) -> None:
    """Any signed-in account acts on itself only; without a live session: 401."""
    method, path, body, ok = SELF_SERVICE[endpoint]
    expected = ok if actor in ("owner", "admin", "member") else 401
    r = await world.h.client.request(method, path, json=body, headers=world.headers(actor))
    assert r.status_code == expected, r.text
    if expected == 401 and endpoint != "delete_me_wrong_password":
        assert r.json()["code"] == "unauthorized"


@pytest.mark.parametrize("actor", ACTORS)
async def test_password_reset_needs_only_a_valid_token(world: World, actor: str) -> None:
    r = await world.h.client.post(
        "/v1/auth/password-reset",
        json={"token": "no-such-token", "new_password": "copper-lantern-meadow-93"},
        headers=world.headers(actor),
    )
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_reset"
