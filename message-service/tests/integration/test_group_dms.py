"""Group direct rooms (api-v1.1 C) against a real database and broker: one room per set of
users whatever the order (and whoever asks), created with everyone in it, calling again
re-adds only the caller, 2 to 8 others, unknown users, the `rooms` feature switch, and the v1
pair next to them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import msgspec
import pytest
from chat_contracts import types
from message_service.store.blocks import apply_change

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, r.text
    return body


async def open_group(s: Any, caller: uuid.UUID, *others: uuid.UUID) -> Any:
    return await s.client.post(
        "/v1/dms", json={"user_ids": [str(u) for u in others]}, headers=s.auth(caller)
    )


async def group_room(s: Any, caller: uuid.UUID, *others: uuid.UUID) -> dict[str, Any]:
    r = await open_group(s, caller, *others)
    assert r.status_code == 200, r.text
    room: dict[str, Any] = r.json()["room"]
    msgspec.convert(room, types.Room)
    return room


async def member_ids(s: Any, room_id: str, user: uuid.UUID) -> set[str]:
    r = await s.client.get(f"/v1/rooms/{room_id}/members", headers=s.auth(user))
    assert r.status_code == 200, r.text
    return {m["user_id"] for m in r.json()["members"]}


async def test_one_room_per_set_whatever_the_order(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    tag = uuid.uuid4().hex[:6]
    ana, ben, cy = [await s.register_user(f"{n}{tag}") for n in ("cy", "ana", "ben")]
    room = await group_room(s, ana, ben, cy)
    assert (room["kind"], room["visibility"], room["member_count"]) == ("direct", "private", 3)
    # The members' usernames, sorted; no room roles in direct rooms.
    assert room["name"] == f"ana{tag}, ben{tag}, cy{tag}"
    assert "my_role" not in room
    assert "topic" not in room
    # Everyone is in it from the start, and learns so.
    await s.spy.wait_for(
        lambda spy: all(spy.of(f"user.{u}.room.joined.v1") for u in (ana, ben, cy))
    )
    assert await member_ids(s, room["id"], ben) == {str(ana), str(ben), str(cy)}
    # The same set from anyone, in any order, the caller listed or not: the same room.
    assert (await group_room(s, ben, cy, ana))["id"] == room["id"]
    assert (await group_room(s, cy, ana, cy, ben))["id"] == room["id"]
    # A smaller or larger set, or the v1 pair, is another room.
    dee = await s.register_user()
    assert (await group_room(s, ana, ben, cy, dee))["id"] != room["id"]
    r = await s.client.post("/v1/dms", json={"user_id": str(ben)}, headers=s.auth(ana))
    assert r.status_code == 200, r.text
    assert r.json()["room"]["id"] != room["id"]
    assert r.json()["room"]["member_count"] == 2


async def test_calling_again_re_adds_only_the_caller(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben, cy = [await s.register_user() for _ in range(3)]
    room_id = (await group_room(s, ana, ben, cy))["id"]
    for user in (ben, cy):
        r = await s.client.delete(f"/v1/rooms/{room_id}/members/me", headers=s.auth(user))
        assert r.status_code == 204, r.text
    # Ana opening it again does not pull the others back in.
    again = await group_room(s, ana, ben, cy)
    assert (again["id"], again["member_count"]) == (room_id, 1)
    # Ben coming back brings only Ben.
    back = await group_room(s, ben, ana, cy)
    assert (back["id"], back["member_count"]) == (room_id, 2)
    assert await member_ids(s, room_id, ana) == {str(ana), str(ben)}
    # Leaving and opening it again: the caller is back.
    r = await s.client.delete(f"/v1/rooms/{room_id}/members/me", headers=s.auth(ana))
    assert r.status_code == 204, r.text
    assert (await group_room(s, ana, cy, ben))["member_count"] == 2
    assert await member_ids(s, room_id, ana) == {str(ana), str(ben)}


async def test_two_to_eight_others(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana = await s.register_user()
    others = [await s.register_user() for _ in range(9)]
    for size in range(1, 10):
        r = await open_group(s, ana, *others[:size])
        if 2 <= size <= 8:
            assert r.status_code == 200, (size, r.text)
            assert r.json()["room"]["member_count"] == size + 1
        else:
            body = problem(r, 422, "validation_failed")
            assert {e["field"] for e in body["errors"]} == {"user_ids"}, body
    # Yourself beside one other is a pair, not a group: refused here (v1's user_id makes it).
    problem(await open_group(s, ana, ana, others[0]), 422, "validation_failed")
    # Yourself beside 8 others is a group of 8.
    r = await open_group(s, ana, ana, *others[:8])
    assert r.status_code == 200, r.text
    for body in (
        {},
        {"user_id": str(others[0]), "user_ids": [str(u) for u in others[:2]]},
        {"user_ids": [str(others[0]), str(others[0])]},
        {"user_ids": [str(others[0]), "not-a-uuid"]},
    ):
        r = await s.client.post("/v1/dms", json=body, headers=s.auth(ana))
        problem(r, 422, "validation_failed")


async def test_unknown_users(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = await s.register_user(), await s.register_user()
    problem(await open_group(s, ana, ben, uuid.uuid4()), 404, "user_not_found")


async def test_blocks_do_not_refuse_entries_in_groups(ms_shared_stack: Any) -> None:
    """api-v1.1 C: `blocked` is for 1:1 rooms; in a group the client hides the entries."""
    s = ms_shared_stack
    ana, ben, cy = [await s.register_user() for _ in range(3)]
    room_id = (await group_room(s, ana, ben, cy))["id"]
    async with s.host.require_sessions()() as session, session.begin():
        await apply_change(session, ana, ben, True, 1)
    for sender in (ana, ben):
        r = await s.client.post(
            f"/v1/rooms/{room_id}/messages",
            json={"client_msg_id": str(uuid.uuid4()), "text": "hi all"},
            headers=s.auth(sender),
        )
        assert r.status_code == 201, r.text


async def test_groups_need_the_rooms_feature(
    ms_shared_stack: Any, rooms_off: httpx.AsyncClient
) -> None:
    s = ms_shared_stack
    ana, ben, cy = [await s.register_user() for _ in range(3)]
    r = await rooms_off.post("/v1/dms", json={"user_ids": [str(ben), str(cy)]}, headers=s.auth(ana))
    problem(r, 403, "feature_disabled")
    r = await rooms_off.post("/v1/dms", json={"user_id": str(ben)}, headers=s.auth(ana))
    assert r.status_code == 200, r.text
