"""api-v1.1 F: display names refuse bidi controls and zero-width characters, at registration
and in PATCH /v1/users/me, with one field error per broken rule (chat_runtime.text)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from chat_devtools.auth_harness import STRONG_PASSWORD, AuthHarness

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def rules(r: httpx.Response) -> list[tuple[str, str]]:
    assert r.status_code == 422, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == "validation_failed"
    return [(e["field"], e["code"]) for e in body["errors"]]


async def test_display_names_refuse_invisible_characters(auth_it: AuthHarness) -> None:
    c = auth_it.client

    async def register(username: str, display_name: str) -> httpx.Response:
        return await c.post(
            "/v1/auth/register",
            json={"username": username, "display_name": display_name, "password": STRONG_PASSWORD},
        )

    assert rules(await register("trojan", "Admin\u202enimdA")) == [("display_name", "bidi_control")]
    assert rules(await register("trojan", "Ad\u2067min\u2060")) == [
        ("display_name", "bidi_control"),
        ("display_name", "zero_width"),
    ]
    assert rules(await register("trojan", "\u200bAdmin")) == [("display_name", "zero_width")]
    # Visible letters of any script, right-to-left ones included, are fine.
    assert (await register("trojan", "مريم Ōno")).status_code == 201
    access = (await auth_it.login("trojan")).json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    for name, codes in (("Ma\u202dria", ["bidi_control"]), ("Maria\ufeff", ["zero_width"])):
        r = await c.patch("/v1/users/me", json={"display_name": name}, headers=bearer)
        assert rules(r) == [("display_name", code) for code in codes]
    me = await c.get("/v1/users/me", headers=bearer)
    assert me.json()["user"]["display_name"] == "مريم Ōno"
