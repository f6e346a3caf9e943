"""api-v1.1 C room management against a real database and bus: rename and topic, archive (and
its refusals over REST send, joins and invites), removal (the leave path: `room.left.v1` to the
removed user, `member_left` to the room, a `member_removed` entry, 404 afterwards), room roles,
the last-admin rule, `room.updated.v1` bodies, `blocked` in 1:1 direct rooms, and the
authorization matrix of every room endpoint."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from message_service.domain.sending import SendCommand
from message_service.services import sending
from message_service.store import UnitOfWork, tables
from sqlalchemy.dialects import postgresql as pg

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["detail"]
    return body


async def execute(s: Any, statement: Any) -> list[Any]:
    async with s.host.require_sessions()() as session, session.begin():
        result = await session.execute(statement)
        return list(result) if result.returns_rows else []


async def set_workspace_role(s: Any, user: UUID, role: str) -> None:
    u = tables.users
    await execute(s, sa.update(u).where(u.c.id == user).values(role=role))


async def block(s: Any, blocker: UUID, blocked: UUID, *, on: bool = True) -> None:
    """A row of the `blocks` projection, as people-backend's consumer writes it."""
    b = tables.blocks
    insert = pg.insert(b).values(blocker_id=blocker, blocked_id=blocked, blocked=on, version=1)
    await execute(
        s,
        insert.on_conflict_do_update(
            index_elements=[b.c.blocker_id, b.c.blocked_id], set_={"blocked": on}
        ),
    )


class Api:
    """The room endpoints of the shared stack."""

    def __init__(self, s: Any) -> None:
        self.s = s
        self.c: httpx.AsyncClient = s.client

    async def channel(self, owner: UUID, visibility: str = "public", *members: UUID) -> str:
        room: str = await self.s.room(owner, visibility=visibility, name="general")
        for user in members:
            r = await self.c.post(
                f"/v1/rooms/{room}/members", json={"user_id": str(user)}, headers=self.s.auth(owner)
            )
            assert r.status_code == 200, r.text
        return room

    async def dm(self, caller: UUID, *others: UUID) -> str:
        body: dict[str, Any] = (
            {"user_id": str(others[0])}
            if len(others) == 1
            else {"user_ids": [str(o) for o in others]}
        )
        r = await self.c.post("/v1/dms", json=body, headers=self.s.auth(caller))
        assert r.status_code in (200, 201), r.text
        room_id: str = r.json()["room"]["id"]
        return room_id

    async def patch(self, user: UUID, room: str, **body: Any) -> Any:
        return await self.c.patch(f"/v1/rooms/{room}", json=body, headers=self.s.auth(user))

    async def archive(self, user: UUID, room: str, action: str = "archive") -> Any:
        return await self.c.post(f"/v1/rooms/{room}/{action}", headers=self.s.auth(user))

    async def remove(self, user: UUID, room: str, target: UUID) -> Any:
        return await self.c.delete(f"/v1/rooms/{room}/members/{target}", headers=self.s.auth(user))

    async def role(self, user: UUID, room: str, target: UUID, role: str) -> Any:
        return await self.c.post(
            f"/v1/rooms/{room}/members/{target}/role",
            json={"role": role},
            headers=self.s.auth(user),
        )

    async def send(self, user: UUID, room: str, **fields: Any) -> Any:
        body = {"client_msg_id": str(uuid.uuid4()), **fields}
        return await self.c.post(f"/v1/rooms/{room}/messages", json=body, headers=self.s.auth(user))

    async def text(self, user: UUID, room: str, text: str = "hi") -> dict[str, Any]:
        r = await self.send(user, room, text=text)
        assert r.status_code == 201, r.text
        message: dict[str, Any] = r.json()["message"]
        return message

    async def history(self, user: UUID, room: str) -> Any:
        return await self.c.get(
            f"/v1/rooms/{room}/messages?after_seq=0&limit=200", headers=self.s.auth(user)
        )

    async def systems(self, user: UUID, room: str) -> list[dict[str, Any]]:
        r = await self.history(user, room)
        assert r.status_code == 200, r.text
        return [m for m in r.json()["messages"] if m["kind"] == "system"]

    async def card(self, user: UUID, room: str) -> Any:
        return await self.c.get(f"/v1/rooms/{room}", headers=self.s.auth(user))

    async def listed(self, user: UUID, room: str) -> dict[str, Any]:
        rooms = (await self.c.get("/v1/rooms", headers=self.s.auth(user))).json()["rooms"]
        found: dict[str, Any] = next(r for r in rooms if r["id"] == room)
        return found


def updates(spy: Any, user: UUID) -> list[dict[str, Any]]:
    """The rooms of the `room.updated.v1` events the spy saw for this user."""
    return [e["room"] for e in spy.of(f"user.{user}.room.updated.v1", "room.updated.v1")]


@pytest_asyncio.fixture(loop_scope="module")
async def api(ms_bus: Any) -> Api:
    return Api(ms_bus)


async def test_rename_and_topic_make_entries_and_tell_every_member(api: Api) -> None:
    s = api.s
    ana, ben = await s.register_user(), await s.register_user()
    room = await api.channel(ana, "private", ben)
    created = (await api.card(ana, room)).json()["room"]
    assert (created["topic"], created["archived"], created["my_role"]) == (None, False, "admin")
    assert (await api.card(ben, room)).json()["room"]["my_role"] == "member"

    r = await api.patch(ana, room, name=" design ", topic="  Ship the thing  ")
    assert r.status_code == 200, r.text
    body = r.json()["room"]
    assert (body["name"], body["topic"], body["my_role"]) == ("design", "Ship the thing", "admin")
    entries = await api.systems(ben, room)
    assert [(e["event"], e["value"], e["actor_id"], e["sender_id"]) for e in entries[-2:]] == [
        ("renamed", "design", str(ana), str(ana)),
        ("topic_changed", "Ship the thing", str(ana), str(ana)),
    ]
    assert entries[-2]["text"].endswith("renamed the channel to #design")
    await s.spy.wait_for(lambda spy: bool(updates(spy, ben)) and bool(updates(spy, ana)))
    for user, role in ((ana, "admin"), (ben, "member")):
        seen = updates(s.spy, user)[-1]
        # The room as that user's GET /v1/rooms lists it.
        assert seen == await api.listed(user, room)
        assert (seen["topic"], seen["my_role"]) == ("Ship the thing", role)

    # Unchanged values: 200, no entry. "" clears the topic.
    before = len(await api.systems(ana, room))
    r = await api.patch(ana, room, name="design", topic="Ship the thing")
    assert r.status_code == 200, r.text
    assert len(await api.systems(ana, room)) == before
    r = await api.patch(ana, room, topic="")
    assert r.json()["room"]["topic"] is None
    cleared = (await api.systems(ana, room))[-1]
    assert (cleared["event"], cleared["value"]) == ("topic_changed", None)


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": None}, {"topic": "x" * 251}, {"name": "a\x00b"}, {"topic": 5}],
    ids=["nothing", "empty-name", "null-name", "long-topic", "nul-name", "number-topic"],
)
async def test_bad_room_changes_are_422(api: Api, body: dict[str, Any]) -> None:
    ana = await api.s.register_user()
    room = await api.channel(ana)
    problem(await api.patch(ana, room, **body), 422, "validation_failed")


async def test_an_archived_room_is_read_only_but_for_a_room_admins_delete(api: Api) -> None:
    s = api.s
    ana, ben, cat, dan = [await s.register_user() for _ in range(4)]
    room = await api.channel(ana, "public", ben)
    mine = await api.text(ben, room, "ben's")
    anas = await api.text(ana, room, "ana's")

    r = await api.archive(ana, room)
    assert r.status_code == 200, r.text
    assert r.json()["room"]["archived"] is True
    assert (await api.systems(ben, room))[-1]["event"] == "archived"
    await s.spy.wait_for(lambda spy: any(u["archived"] for u in updates(spy, ben)))
    before = len(await api.systems(ana, room))
    assert (await api.archive(ana, room)).status_code == 200  # already archived: no entry
    assert len(await api.systems(ana, room)) == before

    problem(await api.send(ben, room, text="hello?"), 403, "archived")
    problem(await api.send(ana, room, text="even admins"), 403, "archived")
    problem(await api.send(ben, room, kind="edit", target_id=mine["id"], text="x"), 403, "archived")
    problem(await api.send(ben, room, kind="delete", target_id=mine["id"]), 403, "archived")
    r = await api.send(ana, room, kind="delete", target_id=mine["id"])
    assert r.status_code == 201, r.text  # a room admin's delete
    problem(await api.patch(ana, room, topic="new"), 403, "archived")
    problem(await api.patch(ana, room, name="new"), 403, "archived")
    r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(cat))
    problem(r, 403, "archived")
    r = await s.client.post(
        f"/v1/rooms/{room}/members", json={"user_id": str(dan)}, headers=s.auth(ana)
    )
    problem(r, 403, "archived")
    # Roles, reading and leaving still work; history stays readable.
    assert (await api.role(ana, room, ben, "admin")).status_code == 200
    assert (await api.history(ben, room)).status_code == 200

    r = await api.archive(ana, room, "unarchive")
    assert r.status_code == 200, r.text
    assert r.json()["room"]["archived"] is False
    assert (await api.systems(ana, room))[-1]["event"] == "unarchived"
    assert (await api.send(ben, room, text="back")).status_code == 201
    assert anas["id"]


async def test_a_removed_member_leaves_like_leaving_and_the_room_is_404_to_them(api: Api) -> None:
    s = api.s
    ana, ben, cat = [await s.register_user() for _ in range(3)]
    room = await api.channel(ana, "private", ben, cat)
    await api.text(ben, room, "before")

    r = await api.remove(ana, room, ben)
    assert r.status_code == 204, r.text
    await s.spy.wait_for(
        lambda spy: (
            bool(spy.of(f"user.{ben}.room.left.v1")) and bool(spy.of(f"room.{room}.member_left.v1"))
        )
    )
    assert s.spy.of(f"room.{room}.member_left.v1")[-1]["user_id"] == str(ben)
    entry = (await api.systems(cat, room))[-1]
    assert (entry["event"], entry["actor_id"], entry["subject_id"]) == (
        "member_removed",
        str(ana),
        str(ben),
    )
    assert "removed" in entry["text"]
    assert "from the channel" in entry["text"]
    problem(await api.history(ben, room), 404, "room_not_found")
    problem(await api.card(ben, room), 404, "room_not_found")
    problem(await api.send(ben, room, text="still here?"), 404, "room_not_found")
    problem(await api.remove(ana, room, ben), 404, "not_a_member")
    members = (await s.client.get(f"/v1/rooms/{room}/members", headers=s.auth(ana))).json()
    assert str(ben) not in {m["user_id"] for m in members["members"]}


async def test_room_roles_and_the_last_room_admin(api: Api) -> None:
    s = api.s
    ana, ben, cat = [await s.register_user() for _ in range(3)]
    room = await api.channel(ana, "public", ben, cat)
    cats = await api.text(cat, room, "cat's")
    problem(await api.send(ben, room, kind="delete", target_id=cats["id"]), 403, "forbidden")

    r = await api.role(ana, room, ben, "admin")
    assert r.status_code == 200, r.text
    assert r.json()["room"]["my_role"] == "admin"  # the room as the caller sees it
    entry = (await api.systems(ana, room))[-1]
    assert (entry["event"], entry["subject_id"], entry["value"]) == (
        "role_changed",
        str(ben),
        "admin",
    )
    assert entry["text"].endswith("a room admin")
    await s.spy.wait_for(lambda spy: bool(updates(spy, ben)))
    assert updates(s.spy, ben)[-1]["my_role"] == "admin"
    assert updates(s.spy, cat) == []  # a role change tells its subject only
    assert (await api.card(ben, room)).json()["room"]["my_role"] == "admin"
    members = (await s.client.get(f"/v1/rooms/{room}/members", headers=s.auth(cat))).json()
    assert {m["user_id"]: m["role"] for m in members["members"]} == {
        str(ana): "admin",
        str(ben): "admin",
        str(cat): "member",
    }
    # A room admin deletes another's entry.
    assert (await api.send(ben, room, kind="delete", target_id=cats["id"])).status_code == 201
    before = len(await api.systems(ana, room))
    assert (await api.role(ana, room, ben, "admin")).status_code == 200  # unchanged: no entry
    assert len(await api.systems(ana, room)) == before

    # Two admins: either may step down; the last one may neither step down nor leave.
    assert (await api.role(ben, room, ana, "member")).status_code == 200
    problem(await api.role(ben, room, ben, "member"), 409, "last_room_admin")
    problem(await api.remove(ben, room, ben), 409, "last_room_admin")
    problem(await api.role(ben, room, uuid.uuid4(), "admin"), 404, "not_a_member")
    r = await api.role(ben, room, ana, "owner")
    problem(r, 422, "validation_failed")
    # A plain member removing themselves leaves (member_left).
    assert (await api.remove(cat, room, cat)).status_code == 204
    assert (await api.systems(ana, room))[-1]["event"] == "member_left"


async def test_workspace_admins_act_as_room_admins_only_where_they_are_members(api: Api) -> None:
    s = api.s
    ana, ben, wsa = [await s.register_user() for _ in range(3)]
    await set_workspace_role(s, wsa, "admin")
    room = await api.channel(ana, "public", ben, wsa)
    bens = await api.text(ben, room)
    # Their room role stays `member`; they still act as a room admin.
    assert (await api.card(wsa, room)).json()["room"]["my_role"] == "member"
    assert (await api.send(wsa, room, kind="delete", target_id=bens["id"])).status_code == 201
    # Demoting the creator is allowed: the workspace admin remains a room admin.
    assert (await api.role(wsa, room, ana, "member")).status_code == 200
    problem(await api.remove(wsa, room, wsa), 409, "last_room_admin")


async def test_direct_rooms_have_no_topic_archive_or_role(api: Api) -> None:
    s = api.s
    ana, ben = await s.register_user(), await s.register_user()
    dm = await api.dm(ana, ben)
    card = (await api.card(ana, dm)).json()["room"]
    assert card["kind"] == "direct"
    assert not {"topic", "archived", "my_role"} & card.keys()
    assert not {"topic", "archived", "my_role"} & (await api.listed(ben, dm)).keys()


async def test_a_block_either_way_refuses_direct_entries_and_unblocking_restores(api: Api) -> None:
    s = api.s
    ana, ben, cat = [await s.register_user() for _ in range(3)]
    dm = await api.dm(ana, ben)
    anas = await api.text(ana, dm, "hello")
    bens = await api.text(ben, dm, "hi")
    await block(s, ana, ben)
    problem(await api.send(ana, dm, text="still?"), 403, "blocked")
    problem(await api.send(ben, dm, text="why?"), 403, "blocked")
    problem(
        await api.send(ben, dm, kind="reaction", target_id=anas["id"], emoji="👍"), 403, "blocked"
    )
    problem(await api.send(ana, dm, kind="delete", target_id=bens["id"]), 403, "blocked")
    r = await api.send(ben, dm, kind="delete", target_id=bens["id"])
    assert r.status_code == 201, r.text  # one's own entry
    # Channels they share are not affected; group direct rooms neither.
    channel = await api.channel(ana, "public", ben)
    assert (await api.send(ben, channel, text="here")).status_code == 201
    group = await api.dm(ana, ben, cat)
    assert (await api.send(ben, group, text="group")).status_code == 201
    await block(s, ana, ben, on=False)
    assert (await api.send(ben, dm, text="friends again")).status_code == 201
    await block(s, ben, ana)  # the other way round
    problem(await api.send(ana, dm, text="?"), 403, "blocked")


async def test_a_deactivated_member_refuses_1to1_direct_entries_but_not_group_ones(
    api: Api,
) -> None:
    s = api.s
    ana, ben, cat = [await s.register_user() for _ in range(3)]
    dm = await api.dm(ana, ben)
    group = await api.dm(ana, ben, cat)
    u = tables.users
    await execute(s, sa.update(u).where(u.c.id == ben).values(deactivated=True))
    problem(await api.send(ana, dm, text="hi"), 403, "deactivated")
    assert (await api.send(ana, group, text="hi all")).status_code == 201


async def test_a_plain_batch_still_runs_four_statements_with_the_room_columns(api: Api) -> None:
    """The lock reads archive state, room roles and blocks in the statement it always ran; the
    workspace-role lookup only runs for batches that may need it (a bound flag, no new trip)."""
    s = api.s
    ana, ben = await s.register_user(), await s.register_user()
    room = await api.channel(ana, "public", ben)
    engine = s.host.require_sessions().kw["bind"]
    seen: list[tuple[Any, str]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((conn, statement))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with UnitOfWork(s.host.require_sessions(), s.host.relay) as session:
            mine = (await session.connection()).sync_connection
            seen.clear()
            commands = [SendCommand(uuid.uuid4(), UUID(room), ben, t) for t in ("a", "b")]
            await sending.send_messages(session, commands)
        statements = [x for conn, x in seen if conn is mine]
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len(statements) == 4, statements
    assert "archived" in statements[0]
    assert "blocks" in statements[0]


# --- the authorization matrix ----------------------------------------------------------------

ACTORS = ("room_admin", "member", "ws_admin_in", "ws_admin_out", "outsider")
ENDPOINTS = ("rename", "topic", "archive", "unarchive", "remove", "role")
# (kind, actor) -> the answer of every endpoint: None = allowed.
EXPECTED: dict[tuple[str, str], tuple[int, str] | None] = {
    ("public", "room_admin"): None,
    ("public", "member"): (403, "forbidden"),
    ("public", "ws_admin_in"): None,
    ("public", "ws_admin_out"): (403, "forbidden"),
    ("public", "outsider"): (403, "forbidden"),
    ("private", "room_admin"): None,
    ("private", "member"): (403, "forbidden"),
    ("private", "ws_admin_in"): None,
    ("private", "ws_admin_out"): (404, "room_not_found"),
    ("private", "outsider"): (404, "room_not_found"),
    # Direct rooms have no room admins; "room_admin" is the room's creator there.
    ("direct", "room_admin"): (403, "forbidden"),
    ("direct", "member"): (403, "forbidden"),
    ("direct", "ws_admin_in"): (403, "forbidden"),
    ("direct", "ws_admin_out"): (404, "room_not_found"),
    ("direct", "outsider"): (404, "room_not_found"),
}


async def test_authorization_matrix_of_every_room_endpoint(api: Api) -> None:
    s = api.s
    creator, member, ws_in, ws_out, outsider, victim = [await s.register_user() for _ in range(6)]
    for admin in (ws_in, ws_out):
        await set_workspace_role(s, admin, "admin")
    actors = dict(zip(ACTORS, (creator, member, ws_in, ws_out, outsider), strict=True))
    # One group direct room holds the creator, the member and the workspace admin.
    direct = await api.dm(creator, member, ws_in)

    async def fresh(kind: str) -> str:
        if kind == "direct":
            return direct
        return await api.channel(creator, kind, member, ws_in, victim)

    async def call(endpoint: str, user: UUID, room: str) -> Any:
        # Never the caller: removing yourself is leaving (see the roles test).
        target = (ws_in if user == member else member) if room == direct else victim
        if endpoint == "rename":
            return await api.patch(user, room, name="renamed")
        if endpoint == "topic":
            return await api.patch(user, room, topic="a topic")
        if endpoint in ("archive", "unarchive"):
            return await api.archive(user, room, endpoint)
        if endpoint == "remove":
            return await api.remove(user, room, target)
        return await api.role(user, room, target, "admin")

    wrong: list[str] = []
    for (kind, actor), expected in EXPECTED.items():
        for endpoint in ENDPOINTS:
            room = await fresh(kind)
            r = await call(endpoint, actors[actor], room)
            if expected is None:
                ok = r.status_code == (204 if endpoint == "remove" else 200)
            else:
                status, code = expected
                ok = r.status_code == status and r.json().get("code") == code
            if not ok:
                wrong.append(f"{kind} {actor} {endpoint}: {r.status_code} {r.text[:120]}")
    assert wrong == []


# --- feature switched off --------------------------------------------------------------------


async def test_room_endpoints_need_the_rooms_feature(
    api: Api, rooms_off: httpx.AsyncClient
) -> None:
    s = api.s
    ana, ben = await s.register_user(), await s.register_user()
    room = await api.channel(ana, "public", ben)
    auth = s.auth(ana)
    for r in (
        await rooms_off.patch(f"/v1/rooms/{room}", json={"topic": "x"}, headers=auth),
        await rooms_off.post(f"/v1/rooms/{room}/archive", headers=auth),
        await rooms_off.post(f"/v1/rooms/{room}/unarchive", headers=auth),
        await rooms_off.delete(f"/v1/rooms/{room}/members/{ben}", headers=auth),
        await rooms_off.post(
            f"/v1/rooms/{room}/members/{ben}/role", json={"role": "admin"}, headers=auth
        ),
    ):
        problem(r, 403, "feature_disabled")
