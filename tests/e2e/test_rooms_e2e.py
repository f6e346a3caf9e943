"""The rooms REST surface (api-v1 §4) through the edge: channels public and private, browse,
join, invite, leave, members, history paging, read positions and unread counts, direct rooms,
and the problem bodies (404/403/422, `application/problem+json`) with the correlation id echoed.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    PROBLEM_TYPE,
    Edge,
    User,
    assert_problem,
    open_edge,
    unique_name,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

ROOM_FIELDS = {
    "id",
    "kind",
    "name",
    "visibility",
    "created_by",
    "created_at",
    "last_seq",
    "last_read_seq",
    "unread_count",
    "member_count",
}
MESSAGE_FIELDS = {
    "id",
    "room_id",
    "seq",
    "kind",
    "sender_id",
    "text",
    "client_msg_id",
    "created_at",
}


@pytest.fixture(scope="module")
def rooms_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rooms_edge(rooms_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(rooms_edge_url) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def trio(rooms_edge: Edge) -> AsyncIterator[list[User]]:
    """Three people shared by the module's tests (registrations are throttled per address)."""
    users = await rooms_edge.pooled_users(3)
    yield users
    # Pooled users are reused by later runs: leave the channels made here.
    for user in await rooms_edge.pooled_users(3):
        await user.leave_all_channels()


def ids(rooms: list[dict[str, Any]]) -> set[str]:
    return {str(r["id"]) for r in rooms}


async def test_create_public_and_private_rooms(trio: list[User]) -> None:
    alice = trio[0]
    name = unique_name("Pub Room")
    public = await alice.create_room(name, "public")
    assert set(public) >= ROOM_FIELDS
    assert public["kind"] == "channel"
    assert public["name"] == name
    assert public["visibility"] == "public"
    assert public["created_by"] == alice.id
    assert public["member_count"] == 1
    assert public["last_seq"] == 0
    assert public["unread_count"] == 0
    assert public["created_at"].endswith("Z")
    uuid.UUID(public["id"])
    private = await alice.create_room(unique_name("priv"), "private")
    assert private["visibility"] == "private"

    mine = (await alice.ok("GET", "/v1/rooms"))["rooms"]
    assert {public["id"], private["id"]} <= ids(mine)
    assert await alice.room(public["id"]) == public


async def test_create_room_refuses_bad_bodies_with_every_broken_rule(trio: list[User]) -> None:
    alice = trio[0]
    r = await alice.post("/v1/rooms", json={"name": "x", "visibility": "secret"})
    body = assert_problem(r, 422, "validation_failed")
    assert any(e["field"].endswith("visibility") for e in body["errors"]), body
    for e in body["errors"]:
        assert {"field", "code", "message"} <= set(e)
        assert e["message"].strip()

    r = await alice.post("/v1/rooms", json={"visibility": "public"})
    body = assert_problem(r, 422, "validation_failed")
    assert any(e["field"].endswith("name") for e in body["errors"]), body

    r = await alice.post("/v1/rooms", json={"name": "   ", "visibility": "public"})
    assert_problem(r, 422, "validation_failed")
    r = await alice.post("/v1/rooms", json={"name": "n" * 10_000, "visibility": "public"})
    assert_problem(r, 422)
    r = await alice.post("/v1/rooms", json=["not", "an", "object"])
    assert_problem(r, 422)


async def test_browse_finds_public_rooms_only(trio: list[User]) -> None:
    alice, bob, _ = trio
    prefix = f"browse{uuid.uuid4().hex[:8]}"
    public = await alice.create_room(f"{prefix} open", "public")
    private = await alice.create_room(f"{prefix} closed", "private")

    found = (await bob.ok("GET", "/v1/rooms/public", params={"q": prefix, "limit": 20}))["rooms"]
    assert public["id"] in ids(found)
    assert private["id"] not in ids(found)
    assert all(r["visibility"] == "public" for r in found)

    r = await bob.get("/v1/rooms/public", params={"limit": "lots"})
    assert_problem(r, 422)
    r = await bob.get("/v1/rooms/public", params={"limit": -1})
    assert_problem(r, 422)


async def test_join_public_room_and_private_room_stays_hidden(trio: list[User]) -> None:
    alice, bob, _ = trio
    public = await alice.create_room(unique_name("join"), "public")
    private = await alice.create_room(unique_name("hidden"), "private")

    # A public room can be seen before joining; a private one does not exist for outsiders.
    seen = await bob.room(public["id"])
    assert seen["id"] == public["id"]
    assert_problem(await bob.get(f"/v1/rooms/{private['id']}"), 404, "room_not_found")
    assert_problem(await bob.post(f"/v1/rooms/{private['id']}/members", json={}), (403, 404))
    assert_problem(await bob.get(f"/v1/rooms/{private['id']}/members"), (403, 404))
    assert_problem(await bob.get(f"/v1/rooms/{private['id']}/messages"), (403, 404))

    joined = await bob.join(public["id"])
    assert joined["member_count"] == 2
    assert public["id"] in ids((await bob.ok("GET", "/v1/rooms"))["rooms"])
    # Joining twice changes nothing.
    again = await bob.join(public["id"])
    assert again["member_count"] == 2


async def test_invite_to_private_room_only_by_members(trio: list[User]) -> None:
    alice, bob, carol = trio
    private = await alice.create_room(unique_name("inv"), "private")
    # An outsider cannot invite anyone (not even themselves).
    r = await bob.post(f"/v1/rooms/{private['id']}/members", json={"user_id": carol.id})
    assert_problem(r, (403, 404))

    room = await alice.invite(private["id"], bob.id)
    assert room["member_count"] == 2
    assert (await bob.room(private["id"]))["id"] == private["id"]
    # Now a member, bob may invite carol.
    room = await bob.invite(private["id"], carol.id)
    assert room["member_count"] == 3

    members = (await carol.ok("GET", f"/v1/rooms/{private['id']}/members"))["members"]
    assert {m["user_id"] for m in members} == {alice.id, bob.id, carol.id}
    for m in members:
        assert set(m) >= {"user_id", "joined_at", "last_read_seq"}
        assert m["last_read_seq"] == 0

    r = await alice.post(f"/v1/rooms/{private['id']}/members", json={"user_id": "not-a-uuid"})
    assert_problem(r, 422)
    r = await alice.post(f"/v1/rooms/{private['id']}/members", json={"user_id": str(uuid.uuid4())})
    assert_problem(r, 404)


async def test_leave_a_room(trio: list[User]) -> None:
    alice, bob, _ = trio
    room = await alice.create_room(unique_name("leave"), "public")
    await bob.join(room["id"])
    r = await bob.delete(f"/v1/rooms/{room['id']}/members/me")
    assert r.status_code == 204, r.text
    assert room["id"] not in ids((await bob.ok("GET", "/v1/rooms"))["rooms"])
    assert (await alice.room(room["id"]))["member_count"] == 1
    # No longer a member: history and sending are refused, leaving again is a 404.
    assert_problem(await bob.get(f"/v1/rooms/{room['id']}/messages"), 403, "forbidden")
    r = await bob.post(
        f"/v1/rooms/{room['id']}/messages",
        json={"client_msg_id": str(uuid.uuid4()), "text": "still here?"},
    )
    assert_problem(r, 403, "forbidden")
    assert_problem(await bob.delete(f"/v1/rooms/{room['id']}/members/me"), 404)
    assert_problem(await bob.get(f"/v1/rooms/{room['id']}/members"), 403)


async def test_history_paging(trio: list[User]) -> None:
    alice, bob, _ = trio
    # Bob reads a room he did not join here: no `member_joined` entry (api-v1.1 A) takes a seq.
    room = await alice.create_room(unique_name("paging"), "public")
    sent = [await alice.send_rest(room["id"], f"message {n}") for n in range(1, 8)]
    await bob.join(room["id"])
    assert [m["seq"] for m in sent] == list(range(1, 8))
    assert set(sent[0]) >= MESSAGE_FIELDS

    async def page(**params: Any) -> tuple[list[int], bool]:
        body = await bob.ok("GET", f"/v1/rooms/{room['id']}/messages", params=params)
        return [m["seq"] for m in body["messages"]], body["has_more"]

    assert await page(after_seq=0, limit=3) == ([1, 2, 3], True)
    assert await page(after_seq=3, limit=3) == ([4, 5, 6], True)
    # Seq 8 is Bob's `member_joined` system entry: history returns every entry.
    assert await page(after_seq=6, limit=3) == ([7, 8], False)
    assert await page(after_seq=8) == ([], False)
    assert await page(before_seq=6, limit=2) == ([4, 5], True)
    assert await page(before_seq=3, limit=5) == ([1, 2], False)
    assert await page(before_seq=8, limit=200) == (list(range(1, 8)), False)
    latest, _ = await page()
    assert latest == list(range(1, 9))
    body = await bob.ok("GET", f"/v1/rooms/{room['id']}/messages", params={"before_seq": 8})
    assert body["messages"] == sent

    for bad in (
        {"limit": 201},
        {"limit": 0},
        {"after_seq": "abc"},
        {"after_seq": -1},
        {"before_seq": "1.5"},
    ):
        r = await bob.get(f"/v1/rooms/{room['id']}/messages", params=bad)
        assert_problem(r, 422)


async def test_read_positions_and_unread_counts(trio: list[User]) -> None:
    alice, bob, _ = trio
    room = await alice.create_room(unique_name("unread"), "public")
    await bob.join(room["id"])
    # Bob's join is a `system` entry (api-v1.1 A): it takes a seq but counts as unread for nobody.
    base = (await bob.room(room["id"]))["last_seq"]
    for n in range(5):
        await alice.send_rest(room["id"], f"unread {n}")

    seen = await bob.room(room["id"])
    assert seen["last_seq"] == base + 5
    assert seen["last_read_seq"] == 0
    assert seen["unread_count"] == 5
    alice_before = await alice.room(room["id"])

    r = await bob.post(f"/v1/rooms/{room['id']}/read", json={"seq": base + 3})
    assert r.status_code == 204, r.text
    seen = await bob.room(room["id"])
    assert (seen["last_read_seq"], seen["unread_count"]) == (base + 3, 2)
    listed = {r["id"]: r for r in (await bob.ok("GET", "/v1/rooms"))["rooms"]}
    assert listed[room["id"]]["unread_count"] == 2
    members = (await alice.ok("GET", f"/v1/rooms/{room['id']}/members"))["members"]
    assert {m["user_id"]: m["last_read_seq"] for m in members}[bob.id] == base + 3
    # Read positions are per person: bob reading moves nothing for alice.
    alice_after = await alice.room(room["id"])
    assert alice_after["unread_count"] == alice_before["unread_count"]
    assert alice_after["last_read_seq"] == alice_before["last_read_seq"]

    r = await bob.post(f"/v1/rooms/{room['id']}/read", json={"seq": base + 5})
    assert r.status_code == 204
    assert (await bob.room(room["id"]))["unread_count"] == 0

    for bad in ({"seq": "three"}, {"seq": -1}, {}, {"seq": 1.5}):
        assert_problem(await bob.post(f"/v1/rooms/{room['id']}/read", json=bad), 422)
    outsider = await alice.create_room(unique_name("notbob"), "private")
    r = await bob.post(f"/v1/rooms/{outsider['id']}/read", json={"seq": 1})
    assert_problem(r, (403, 404))


async def test_one_direct_room_per_pair(trio: list[User]) -> None:
    alice, bob, carol = trio
    dm = await alice.open_dm(bob.id)
    assert dm["kind"] == "direct"
    assert dm["member_count"] == 2
    assert (await bob.open_dm(alice.id))["id"] == dm["id"]
    assert (await alice.open_dm(bob.id))["id"] == dm["id"]
    assert dm["id"] in ids((await bob.ok("GET", "/v1/rooms"))["rooms"])
    other = await alice.open_dm(carol.id)
    assert other["id"] != dm["id"]
    # Nobody else sees or joins a direct room.
    assert_problem(await carol.get(f"/v1/rooms/{dm['id']}"), 404, "room_not_found")
    r = await alice.post(f"/v1/rooms/{dm['id']}/members", json={"user_id": carol.id})
    assert_problem(r, 403, "forbidden")

    r = await alice.post("/v1/dms", json={"user_id": str(uuid.uuid4())})
    assert_problem(r, 404, "user_not_found")
    assert_problem(await alice.post("/v1/dms", json={"user_id": "bob"}), 422)


async def test_unknown_rooms_and_bad_ids_are_problems(trio: list[User]) -> None:
    alice = trio[0]
    missing = str(uuid.uuid4())
    assert_problem(await alice.get(f"/v1/rooms/{missing}"), 404, "room_not_found")
    assert_problem(await alice.get(f"/v1/rooms/{missing}/messages"), 404)
    assert_problem(await alice.get(f"/v1/rooms/{missing}/members"), 404)
    assert_problem(await alice.post(f"/v1/rooms/{missing}/members", json={}), 404)
    assert_problem(await alice.delete(f"/v1/rooms/{missing}/members/me"), 404)
    assert_problem(await alice.post(f"/v1/rooms/{missing}/read", json={"seq": 1}), 404)
    r = await alice.post(
        f"/v1/rooms/{missing}/messages", json={"client_msg_id": str(uuid.uuid4()), "text": "hi"}
    )
    assert_problem(r, 404)
    r = await alice.get("/v1/rooms/not-a-room-id")
    assert_problem(r, (404, 422))


async def test_sending_over_rest_validates_text(trio: list[User]) -> None:
    alice = trio[0]
    room = await alice.create_room(unique_name("text"), "public")
    path = f"/v1/rooms/{room['id']}/messages"
    for text in ("", "   \n\t", "x" * 4001):
        r = await alice.post(path, json={"client_msg_id": str(uuid.uuid4()), "text": text})
        assert_problem(r, 422)
    r = await alice.post(path, json={"client_msg_id": "nope", "text": "hi"})
    assert_problem(r, 422)
    r = await alice.post(path, json={"client_msg_id": str(uuid.uuid4()), "text": 42})
    assert_problem(r, 422)
    # 4000 code points exactly is fine, even when they are 4-byte characters.
    longest = "\U0001f600" * 4000
    ok = await alice.send_rest(room["id"], longest)
    assert ok["text"] == longest
    html = "<script>alert(1)</script> & <b>"
    assert (await alice.send_rest(room["id"], html))["text"] == html


async def test_auth_is_required(rooms_edge: Edge) -> None:
    for method, path in (
        ("GET", "/v1/rooms"),
        ("POST", "/v1/rooms"),
        ("GET", "/v1/rooms/public"),
        ("POST", "/v1/dms"),
        ("GET", f"/v1/rooms/{uuid.uuid4()}/messages"),
    ):
        r = await rooms_edge.http.request(method, path)
        assert_problem(r, 401)
        r = await rooms_edge.http.request(method, path, headers={"Authorization": "Bearer x.y.z"})
        assert_problem(r, 401)


async def test_correlation_id_is_echoed_on_success_and_errors(trio: list[User]) -> None:
    alice = trio[0]
    cid = f"e2e-{uuid.uuid4().hex}"
    ok = await alice.get("/v1/rooms", headers={"X-Correlation-ID": cid})
    assert ok.status_code == 200
    assert ok.headers.get("x-correlation-id") == cid

    cid = f"e2e-{uuid.uuid4().hex}"
    missing = await alice.get(f"/v1/rooms/{uuid.uuid4()}", headers={"X-Correlation-ID": cid})
    assert_problem(missing, 404)
    assert missing.headers.get("x-correlation-id") == cid

    cid = f"e2e-{uuid.uuid4().hex}"
    bad = await alice.post("/v1/rooms", json={}, headers={"X-Correlation-ID": cid})
    assert_problem(bad, 422)
    assert bad.headers.get("x-correlation-id") == cid

    # Without one, or with one that is not valid, a new id is made up.
    fresh = await alice.get("/v1/rooms")
    assert fresh.headers.get("x-correlation-id")
    hostile = "evil id with spaces"
    r = await alice.get("/v1/rooms", headers={"X-Correlation-ID": hostile})
    assert r.headers.get("x-correlation-id")
    assert r.headers["x-correlation-id"] != hostile
    assert r.headers.get("content-type", "").startswith("application/json")
    assert not r.headers.get("content-type", "").startswith(PROBLEM_TYPE)


async def test_direct_room_opened_from_both_sides_at_once_is_one_room(
    rooms_edge: Edge, trio: list[User]
) -> None:
    alice = trio[0]
    newcomer = await rooms_edge.new_user("rm_dm")  # a pair that has no direct room yet
    await newcomer.open_dm(newcomer.id)  # waits until message-service knows the newcomer
    rooms = await asyncio.gather(
        *(alice.open_dm(newcomer.id) for _ in range(3)),
        *(newcomer.open_dm(alice.id) for _ in range(3)),
    )
    assert len({r["id"] for r in rooms}) == 1, f"several direct rooms: {[r['id'] for r in rooms]}"
    assert all(r["member_count"] == 2 for r in rooms)
    mine = [r for r in (await newcomer.ok("GET", "/v1/rooms"))["rooms"] if r["kind"] == "direct"]
    assert rooms[0]["id"] in ids(mine)
