"""REST endpoints of api-v1 §4 against a real database and broker, every listed 4xx included."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from unittest.mock import ANY

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["detail"]
    return body


async def send(
    s: Any, user: uuid.UUID, room: str, text: str = "hi", cmid: str | None = None
) -> Any:
    return await s.client.post(
        f"/v1/rooms/{room}/messages",
        json={"client_msg_id": cmid or str(uuid.uuid4()), "text": text},
        headers=s.auth(user),
    )


async def test_auth_is_required(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    problem(await s.client.get("/v1/rooms"), 401, "unauthorized")
    problem(
        await s.client.get("/v1/rooms", headers={"Authorization": "Bearer nope"}),
        401,
        "unauthorized",
    )


async def test_create_room_and_validation(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    user = await s.register_user()
    r = await s.client.post(
        "/v1/rooms", json={"name": "  Team  ", "visibility": "private"}, headers=s.auth(user)
    )
    assert r.status_code == 201, r.text
    room = r.json()["room"]
    assert room["name"] == "Team"
    assert room["kind"] == "channel"
    assert room["visibility"] == "private"
    assert room["created_by"] == str(user)
    assert room["created_at"].endswith("Z")
    assert (room["last_seq"], room["last_read_seq"], room["unread_count"]) == (0, 0, 0)
    assert room["member_count"] == 1
    await s.spy.wait_for(lambda spy: spy.of(f"user.{user}.room.joined.v1"))
    assert s.spy.of(f"room.{room['id']}.member_joined.v1") == [
        {"room_id": room["id"], "user_id": str(user)}
    ]

    body = problem(
        await s.client.post(
            "/v1/rooms", json={"name": "   ", "visibility": "secret"}, headers=s.auth(user)
        ),
        422,
        "validation_failed",
    )
    assert {e["field"] for e in body["errors"]} == {"name", "visibility"}
    problem(
        await s.client.post(
            "/v1/rooms", json={"name": "x" * 81, "visibility": "public"}, headers=s.auth(user)
        ),
        422,
        "validation_failed",
    )
    problem(
        await s.client.post(
            "/v1/rooms",
            content=b"{not json",
            headers={**s.auth(user), "content-type": "application/json"},
        ),
        400,
        "malformed_json",
    )


async def test_my_rooms_most_recent_activity_first_with_unread_counts(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    alice, bob = await s.register_user(), await s.register_user()
    first = await s.room(alice, name="first")
    second = await s.room(alice, name="second")
    assert (
        await s.client.post(f"/v1/rooms/{first}/members", json={}, headers=s.auth(bob))
    ).status_code == 200
    for _ in range(3):
        assert (await send(s, bob, first)).status_code == 201
    assert (await send(s, alice, first)).status_code == 201
    assert (await send(s, bob, first)).status_code == 201

    r = await s.client.get("/v1/rooms", headers=s.auth(alice))
    rooms = r.json()["rooms"]
    assert [x["id"] for x in rooms] == [first, second]
    assert rooms[0]["last_seq"] == 6  # bob's join is a system entry (seq 1), then 5 texts
    assert rooms[0]["last_read_seq"] == 5  # her own send advanced it
    assert rooms[0]["unread_count"] == 1
    assert rooms[0]["member_count"] == 2
    bob_rooms = (await s.client.get("/v1/rooms", headers=s.auth(bob))).json()["rooms"]
    assert [(x["id"], x["unread_count"]) for x in bob_rooms] == [(first, 0)]


async def test_public_browse(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    owner, other = await s.register_user(), await s.register_user()
    tag = uuid.uuid4().hex[:6]
    visible = await s.room(owner, name=f"Zeta-{tag} talk")
    await s.room(owner, visibility="private", name=f"zeta-{tag} secret")
    r = await s.client.get(f"/v1/rooms/public?q=ZETA-{tag}&limit=10", headers=s.auth(other))
    assert r.status_code == 200
    rooms = r.json()["rooms"]
    assert [x["id"] for x in rooms] == [visible]
    assert rooms[0]["unread_count"] == 0
    r = await s.client.get("/v1/rooms/public?q=%25&limit=10", headers=s.auth(other))
    assert r.json()["rooms"] == []  # LIKE wildcards are matched literally
    for query in ("limit=0", "limit=101", "limit=ten"):
        problem(
            await s.client.get(f"/v1/rooms/public?{query}", headers=s.auth(other)),
            422,
            "validation_failed",
        )


async def test_a_search_the_database_refuses_is_a_422_not_a_500(ms_shared_stack: Any) -> None:
    """PostgreSQL refuses a NUL in `q`: the runtime refuses it before the route runs (issue #20
    item 8, chat_runtime.http.nul), a 422 naming the field, never a 500."""
    s = ms_shared_stack
    user = await s.register_user()
    r = await s.client.get("/v1/rooms/public?q=a%00b", headers=s.auth(user))
    body = problem(r, 422, "validation_failed")
    assert "NUL" in body["detail"]
    assert body["errors"] == [
        {"field": "q", "code": "nul_character", "message": ANY},
    ]


async def test_get_room_visibility(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    owner, stranger = await s.register_user(), await s.register_user()
    public = await s.room(owner)
    private = await s.room(owner, visibility="private")
    assert (await s.client.get(f"/v1/rooms/{public}", headers=s.auth(stranger))).status_code == 200
    problem(
        await s.client.get(f"/v1/rooms/{private}", headers=s.auth(stranger)), 404, "room_not_found"
    )
    problem(
        await s.client.get(f"/v1/rooms/{uuid.uuid4()}", headers=s.auth(stranger)),
        404,
        "room_not_found",
    )
    problem(
        await s.client.get("/v1/rooms/not-a-uuid", headers=s.auth(stranger)),
        422,
        "validation_failed",
    )
    r = await s.client.get(f"/v1/rooms/{private}", headers=s.auth(owner))
    assert r.json()["room"]["id"] == private


async def test_join_invite_leave(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    owner, joiner, invitee, stranger = [await s.register_user() for _ in range(4)]
    public = await s.room(owner)
    private = await s.room(owner, visibility="private")

    r = await s.client.post(f"/v1/rooms/{public}/members", json={}, headers=s.auth(joiner))
    assert r.status_code == 200, r.text
    assert r.json()["room"]["member_count"] == 2
    await s.spy.wait_for(lambda spy: spy.of(f"user.{joiner}.room.joined.v1"))
    assert {"room_id": public, "user_id": str(joiner)} in s.spy.of(
        f"room.{public}.member_joined.v1"
    )
    # joining twice changes nothing and announces nothing
    again = await s.client.post(f"/v1/rooms/{public}/members", json={}, headers=s.auth(joiner))
    assert again.json()["room"]["member_count"] == 2

    problem(
        await s.client.post(f"/v1/rooms/{private}/members", json={}, headers=s.auth(stranger)),
        404,
        "room_not_found",
    )
    problem(
        await s.client.post(
            f"/v1/rooms/{private}/members",
            json={"user_id": str(stranger)},
            headers=s.auth(stranger),
        ),
        404,
        "room_not_found",
    )
    problem(
        await s.client.post(
            f"/v1/rooms/{public}/members", json={"user_id": str(invitee)}, headers=s.auth(stranger)
        ),
        403,
        "forbidden",
    )
    problem(
        await s.client.post(
            f"/v1/rooms/{private}/members",
            json={"user_id": str(uuid.uuid4())},
            headers=s.auth(owner),
        ),
        404,
        "user_not_found",
    )
    problem(
        await s.client.post(
            f"/v1/rooms/{private}/members", json={"user_id": "nope"}, headers=s.auth(owner)
        ),
        422,
        "validation_failed",
    )
    r = await s.client.post(
        f"/v1/rooms/{private}/members", json={"user_id": str(invitee)}, headers=s.auth(owner)
    )
    assert r.status_code == 200, r.text
    await s.spy.wait_for(lambda spy: spy.of(f"user.{invitee}.room.joined.v1"))
    assert (await s.client.get(f"/v1/rooms/{private}", headers=s.auth(invitee))).status_code == 200

    r = await s.client.delete(f"/v1/rooms/{private}/members/me", headers=s.auth(invitee))
    assert r.status_code == 204
    await s.spy.wait_for(lambda spy: spy.of(f"user.{invitee}.room.left.v1"))
    assert {"room_id": private, "user_id": str(invitee)} in s.spy.of(
        f"room.{private}.member_left.v1"
    )
    problem(
        await s.client.delete(f"/v1/rooms/{private}/members/me", headers=s.auth(invitee)),
        404,
        "not_a_member",
    )
    problem(
        await s.client.get(f"/v1/rooms/{private}", headers=s.auth(invitee)), 404, "room_not_found"
    )


async def test_members_listing(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    owner, stranger = await s.register_user(), await s.register_user()
    public = await s.room(owner)
    private = await s.room(owner, visibility="private")
    r = await s.client.get(f"/v1/rooms/{public}/members", headers=s.auth(owner))
    assert r.status_code == 200
    (member,) = r.json()["members"]
    assert member["user_id"] == str(owner)
    assert member["last_read_seq"] == 0
    assert member["joined_at"].endswith("Z")
    problem(
        await s.client.get(f"/v1/rooms/{public}/members", headers=s.auth(stranger)),
        403,
        "forbidden",
    )
    problem(
        await s.client.get(f"/v1/rooms/{private}/members", headers=s.auth(stranger)),
        404,
        "room_not_found",
    )


async def test_send_over_rest(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    alice, stranger = await s.register_user(), await s.register_user()
    room = await s.room(alice)
    other_room = await s.room(alice)
    private = await s.room(alice, visibility="private")
    cmid = str(uuid.uuid4())

    r = await send(s, alice, room, "  hello <b>world</b>  ", cmid)
    assert r.status_code == 201, r.text
    message = r.json()["message"]
    assert message["text"] == "  hello <b>world</b>  "
    assert (message["seq"], message["kind"], message["client_msg_id"]) == (1, "text", cmid)
    await s.spy.wait_for(lambda spy: spy.of(f"room.{room}.message.created.v1"))
    assert s.spy.of(f"room.{room}.message.created.v1") == [{"message": message}]
    assert s.spy.of(f"user.{alice}.message.accepted.v1") == []  # only repeats are `accepted`

    again = await send(s, alice, room, "  hello <b>world</b>  ", cmid)
    assert again.status_code == 200
    assert again.json()["message"] == message
    # api-v1.1 A amends v1 §4: other content under the same client_msg_id is a reuse.
    problem(await send(s, alice, room, "different text", cmid), 409, "client_msg_id_reused")
    problem(await send(s, alice, other_room, "x", cmid), 409, "client_msg_id_reused")

    assert (
        problem(await send(s, alice, room, " \n\t "), 422, "validation_failed")["errors"][0][
            "field"
        ]
        == "text"
    )
    problem(await send(s, alice, room, "x" * 4001), 422, "validation_failed")
    long = await send(s, alice, room, "😀" * 4000)
    assert long.status_code == 201
    assert long.json()["message"]["seq"] == 2
    problem(await send(s, stranger, room), 403, "forbidden")
    problem(await send(s, stranger, private), 404, "room_not_found")
    problem(await send(s, alice, str(uuid.uuid4())), 404, "room_not_found")
    bad = await s.client.post(
        f"/v1/rooms/{room}/messages", json={"client_msg_id": "x", "text": 5}, headers=s.auth(alice)
    )
    assert {e["field"] for e in problem(bad, 422, "validation_failed")["errors"]} == {
        "client_msg_id",
        "text",
    }
    assert (await s.client.get(f"/v1/rooms/{room}", headers=s.auth(alice))).json()["room"][
        "last_seq"
    ] == 2


@pytest.mark.parametrize(
    "extra",
    [
        {"kind": "system"},
        {"kind": "poll", "text": "lunch?"},
        {"text": "later", "scheduled_for": "2027-01-01T09:00:00Z"},
    ],
    ids=["system", "unknown_kind", "unknown_field"],
)
async def test_v1_1_additions_are_refused_unsupported_never_stored_as_text(
    ms_shared_stack: Any, extra: dict[str, Any]
) -> None:
    """api-v1.1 preamble item 1: what this release does not implement is 422 `unsupported`
    (edit, delete and reaction entries: test_entries_rest.py; replies:
    test_threads_mentions_write.py; attachments, implemented now: test_attachments.py)."""
    s = ms_shared_stack
    alice = await s.register_user()
    room = await s.room(alice)
    body = {"client_msg_id": str(uuid.uuid4()), **extra}
    r = await s.client.post(f"/v1/rooms/{room}/messages", json=body, headers=s.auth(alice))
    problem(r, 422, "unsupported")
    history = await s.client.get(f"/v1/rooms/{room}/messages", headers=s.auth(alice))
    assert history.json()["messages"] == []


async def test_a_text_entry_still_needs_its_text(ms_shared_stack: Any) -> None:
    """`text` is optional in the schemas, required in code for text entries."""
    s = ms_shared_stack
    alice = await s.register_user()
    room = await s.room(alice)
    for body in ({}, {"kind": "text"}):
        r = await s.client.post(
            f"/v1/rooms/{room}/messages",
            json={"client_msg_id": str(uuid.uuid4()), **body},
            headers=s.auth(alice),
        )
        problem(r, 422, "validation_failed")


async def test_history_pages(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    alice, stranger = await s.register_user(), await s.register_user()
    room = await s.room(alice)
    private = await s.room(alice, visibility="private")
    for i in range(7):
        assert (await send(s, alice, room, f"m{i + 1}")).status_code == 201

    async def page(query: str) -> tuple[list[int], bool]:
        r = await s.client.get(f"/v1/rooms/{room}/messages?{query}", headers=s.auth(alice))
        assert r.status_code == 200, r.text
        return [m["seq"] for m in r.json()["messages"]], r.json()["has_more"]

    assert await page("after_seq=0&limit=3") == ([1, 2, 3], True)
    assert await page("after_seq=3&limit=4") == ([4, 5, 6, 7], False)
    assert await page("before_seq=6&limit=3") == ([3, 4, 5], True)
    assert await page("before_seq=3&limit=5") == ([1, 2], False)
    assert await page("limit=2") == ([6, 7], True)
    assert await page("after_seq=7") == ([], False)
    for query in (
        "after_seq=-1",
        "before_seq=-5",
        "after_seq=1&before_seq=5",
        "limit=0",
        "limit=201",
        "after_seq=abc",
    ):
        problem(
            await s.client.get(f"/v1/rooms/{room}/messages?{query}", headers=s.auth(alice)),
            422,
            "validation_failed",
        )
    problem(
        await s.client.get(f"/v1/rooms/{room}/messages", headers=s.auth(stranger)), 403, "forbidden"
    )
    problem(
        await s.client.get(f"/v1/rooms/{private}/messages", headers=s.auth(stranger)),
        404,
        "room_not_found",
    )


async def test_read_positions(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    alice, bob, stranger = [await s.register_user() for _ in range(3)]
    room = await s.room(alice)
    await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(bob))
    for _ in range(4):
        await send(s, alice, room)

    async def bob_read() -> int:
        rooms = (await s.client.get("/v1/rooms", headers=s.auth(bob))).json()["rooms"]
        value: int = next(x["last_read_seq"] for x in rooms if x["id"] == room)
        return value

    r = await s.client.post(f"/v1/rooms/{room}/read", json={"seq": 2}, headers=s.auth(bob))
    assert r.status_code == 204
    assert await bob_read() == 2
    await s.client.post(f"/v1/rooms/{room}/read", json={"seq": 1}, headers=s.auth(bob))
    assert await bob_read() == 2  # never moves back
    await s.client.post(f"/v1/rooms/{room}/read", json={"seq": 99}, headers=s.auth(bob))
    assert await bob_read() == 5  # clamped to last_seq (bob's join entry + 4 texts)
    await s.spy.wait_for(lambda spy: len(spy.of(f"room.{room}.read.v1")) >= 2)
    assert [e["seq"] for e in s.spy.of(f"room.{room}.read.v1")] == [2, 5]
    for body in ({"seq": -1}, {"seq": "3"}, {}):
        problem(
            await s.client.post(f"/v1/rooms/{room}/read", json=body, headers=s.auth(bob)),
            422,
            "validation_failed",
        )
    problem(
        await s.client.post(f"/v1/rooms/{room}/read", json={"seq": 1}, headers=s.auth(stranger)),
        403,
        "forbidden",
    )


async def test_direct_rooms(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    alice, bob = await s.register_user("alice" + uuid.uuid4().hex[:4]), await s.register_user()
    r = await s.client.post("/v1/dms", json={"user_id": str(bob)}, headers=s.auth(alice))
    assert r.status_code == 200, r.text
    room = r.json()["room"]
    assert (room["kind"], room["visibility"], room["member_count"]) == ("direct", "private", 2)
    again = await s.client.post("/v1/dms", json={"user_id": str(alice)}, headers=s.auth(bob))
    assert again.json()["room"]["id"] == room["id"]
    await s.spy.wait_for(lambda spy: spy.of(f"user.{bob}.room.joined.v1"))
    assert s.spy.of(f"user.{alice}.room.joined.v1") == [
        {"room_id": room["id"], "user_id": str(alice)}
    ]
    assert len(s.spy.of(f"user.{bob}.room.joined.v1")) == 1
    problem(
        await s.client.post("/v1/dms", json={"user_id": str(uuid.uuid4())}, headers=s.auth(alice)),
        404,
        "user_not_found",
    )
    # Inviting a third person into a direct room is refused.
    carol = await s.register_user()
    problem(
        await s.client.post(
            f"/v1/rooms/{room['id']}/members", json={"user_id": str(carol)}, headers=s.auth(alice)
        ),
        403,
        "forbidden",
    )
    # A direct room with yourself is allowed: notes to self, one member.
    me = await s.client.post("/v1/dms", json={"user_id": str(alice)}, headers=s.auth(alice))
    assert me.status_code == 200
    assert me.json()["room"]["member_count"] == 1
    assert me.json()["room"]["id"] != room["id"]


async def test_concurrent_rest_sends_with_one_client_msg_id(ms_shared_stack: Any) -> None:
    """Racing requests never make two messages and never answer 500."""
    s = ms_shared_stack
    alice = await s.register_user()
    room, other = await s.room(alice), await s.room(alice)
    for _ in range(3):
        cmid = str(uuid.uuid4())
        same = await asyncio.gather(*(send(s, alice, room, "x", cmid) for _ in range(4)))
        assert sorted(r.status_code for r in same) == [200, 200, 200, 201]
        assert len({r.json()["message"]["id"] for r in same}) == 1
        cmid = str(uuid.uuid4())
        across = await asyncio.gather(
            send(s, alice, room, "x", cmid), send(s, alice, other, "x", cmid)
        )
        assert sorted(r.status_code for r in across) == [201, 409]
    seqs = (
        await s.client.get(f"/v1/rooms/{room}/messages?after_seq=0", headers=s.auth(alice))
    ).json()
    ids = [m["seq"] for m in seqs["messages"]]
    assert ids == list(range(1, len(ids) + 1))


async def test_dm_with_someone_who_registered_a_moment_ago(ms_shared_stack: Any) -> None:
    """The directory is fed by an event; a DM asked for before it arrives waits for it."""
    s = ms_shared_stack
    alice, newcomer = await s.register_user(), uuid.uuid4()
    request = asyncio.create_task(
        s.client.post("/v1/dms", json={"user_id": str(newcomer)}, headers=s.auth(alice))
    )
    await asyncio.sleep(0.1)  # the request is already waiting when the registration happens
    await s.publish_registration(newcomer)
    r = await request
    assert r.status_code == 200, r.text
    assert r.json()["room"]["member_count"] == 2
