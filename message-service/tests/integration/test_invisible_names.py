"""api-v1.1 F: room names refuse bidi controls and zero-width characters, on creation and on
rename, with one field error per broken rule (the rules: chat_runtime.text)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

TROJAN = "general\u202etxt.exe"  # shows as "generalexe.txt"
BOTH = "gen\u2066eral\u200b"


def rules(r: Any) -> list[tuple[str, str]]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_failed"
    return [(e["field"], e["code"]) for e in body["errors"]]


async def test_room_names_refuse_invisible_characters(ms_bus: Any) -> None:
    s = ms_bus
    ana = await s.register_user()
    create = {"visibility": "public"}
    r = await s.client.post("/v1/rooms", json={**create, "name": TROJAN}, headers=s.auth(ana))
    assert rules(r) == [("name", "bidi_control")]
    r = await s.client.post("/v1/rooms", json={**create, "name": BOTH}, headers=s.auth(ana))
    assert rules(r) == [("name", "bidi_control"), ("name", "zero_width")]
    r = await s.client.post("/v1/rooms", json={**create, "name": "\ufeffnews"}, headers=s.auth(ana))
    assert rules(r) == [("name", "zero_width")]
    # Visible letters of any script are fine.
    room = await s.room(ana, name="نقاش · 討論 · обсуждение")
    for name, expected in ((TROJAN, ["bidi_control"]), ("a\u200db", ["zero_width"])):
        r = await s.client.patch(f"/v1/rooms/{room}", json={"name": name}, headers=s.auth(ana))
        assert rules(r) == [("name", code) for code in expected]
    card = await s.client.get(f"/v1/rooms/{room}", headers=s.auth(ana))
    assert card.json()["room"]["name"] == "نقاش · 討論 · обсуждение"
