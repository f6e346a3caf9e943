"""The people projection (api-v1.1 C) on a real database and broker: `auth.user.updated.v1` kept
at the highest version in any order, registrations never lowering it, a deleted account leaving
its rooms through the leave path, and the directory look-ups other use cases call."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from chat_contracts import names, types
from chat_runtime.messaging import Envelope, OutgoingMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from message_service.handlers import users
from message_service.handlers.deps import BusDeps
from message_service.services import directory
from message_service.store import UnitOfWork, tables, user_directory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CREATED = "2026-11-26T15:04:05.123Z"


def user_of(
    user_id: UUID,
    username: str,
    *,
    display_name: str = "Someone",
    role: str = "member",
    deactivated: bool = False,
    deleted: bool = False,
) -> types.User:
    return types.User(
        id=str(user_id),
        username=username,
        display_name=display_name,
        created_at=CREATED,
        role=role,
        deactivated=deactivated,
        deleted=deleted,
    )


async def publish_update(s: Any, user: types.User, version: int) -> None:
    """auth.user.updated.v1 as auth-service's outbox publishes it."""
    event = types.AuthUserUpdatedV1(user=user, version=version)
    result = await s.broker.publish(
        names.EXCHANGE_EVENTS, OutgoingMessage.of(names.AUTH_USER_UPDATED_V1, event)
    )
    result.raise_first()


async def stored(s: Any, user_id: UUID) -> Any:
    async with s.host.require_sessions()() as session:
        u = tables.users
        return (await session.execute(sa.select(u).where(u.c.id == user_id))).first()


async def wait_stored(s: Any, user_id: UUID, version: int) -> Any:
    """The directory has no event of its own: poll until the row reaches `version`."""
    for _ in range(250):
        row = await stored(s, user_id)
        if row is not None and row.version >= version:
            return row
        await asyncio.sleep(0.02)
    raise AssertionError(f"user {user_id} never reached version {version}")


async def memberships_of(s: Any, user_id: UUID) -> list[UUID]:
    async with s.host.require_sessions()() as session:
        m = tables.memberships
        rows = await session.execute(sa.select(m.c.room_id).where(m.c.user_id == user_id))
        return list(rows.scalars())


async def system_entries(s: Any, room: str) -> list[tuple[str, UUID]]:
    async with s.host.require_sessions()() as session:
        m = tables.messages
        rows = await session.execute(
            sa.select(m.c.event, m.c.sender_id)
            .where(m.c.room_id == UUID(room), m.c.kind == "system")
            .order_by(m.c.seq)
        )
        return [(r.event, r.sender_id) for r in rows]


# -- version ordering --------------------------------------------------------------------------

ROLES = st.sampled_from(["owner", "admin", "member"])
STATE = st.tuples(ROLES, st.booleans(), st.booleans(), st.text("abcdef", min_size=1, max_size=6))


@st.composite
def update_orders(draw: st.DrawFn) -> tuple[list[tuple[int, Any]], int]:
    """Updates at versions 1..n (some repeated, as redeliveries), plus registrations (version
    0), in any order; the highest version."""
    states = draw(st.lists(STATE, min_size=1, max_size=6))
    ops: list[tuple[int, Any]] = [(v, state) for v, state in enumerate(states, start=1)]
    ops += draw(st.lists(st.sampled_from(ops), max_size=3))  # redeliveries
    ops += [(0, None)] * draw(st.integers(0, 2))  # registrations, possibly late
    return draw(st.permutations(ops)), len(states)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=update_orders())
async def test_updates_in_any_order_converge_on_the_highest_version(
    ms_shared_stack: Any, case: tuple[list[tuple[int, Any]], int]
) -> None:
    s = ms_shared_stack
    order, top = case
    user_id = uuid.uuid4()
    expected: dict[int, types.User] = {}
    for version, state in order:
        if state is not None:
            role, deactivated, deleted, name = state
            expected[version] = user_of(
                user_id,
                f"user-{name}-{version}",
                display_name=f"Name {version}",
                role=role,
                deactivated=deactivated,
                deleted=deleted,
            )
    for version, _ in order:
        async with UnitOfWork(s.host.require_sessions(), None) as session:
            if version == 0:
                await directory.record_user(session, user_of(user_id, "registered-name"))
            else:
                await directory.record_update(session, expected[version], version)
    row = await stored(s, user_id)
    want = expected[top]
    assert row is not None
    assert (row.version, row.username, row.display_name, row.role) == (
        top, want.username, want.display_name, want.role,
    )  # fmt: skip
    assert (row.deactivated, row.deleted) == (want.deactivated, want.deleted)


async def test_a_registration_after_an_update_changes_nothing(ms_bus: Any) -> None:
    s = ms_bus
    user_id = uuid.uuid4()
    await publish_update(s, user_of(user_id, "renamed", display_name="New", role="admin"), 2)
    await wait_stored(s, user_id, 2)
    await s.publish_registration(user_id)  # an old, redelivered registration
    await publish_update(s, user_of(user_id, "renamed", display_name="Old"), 1)
    # Then a marker update of another user: the queue's single consumer has taken the two
    # above once the marker is stored (one queue, in order, prefetch aside: check both rows).
    marker = uuid.uuid4()
    await publish_update(s, user_of(marker, f"m{marker.hex[:8]}"), 1)
    await wait_stored(s, marker, 1)
    for _ in range(50):  # give a prefetched earlier message time to finish too
        row = await stored(s, user_id)
        assert (row.version, row.username, row.display_name, row.role) == (
            2, "renamed", "New", "admin",
        )  # fmt: skip
        await asyncio.sleep(0.01)


async def test_a_deactivated_user_is_marked_and_a_reactivation_clears_it(ms_bus: Any) -> None:
    s = ms_bus
    user_id = await s.register_user()
    name = f"u{user_id.hex[:8]}"
    await publish_update(s, user_of(user_id, name, deactivated=True), 1)
    assert (await wait_stored(s, user_id, 1)).deactivated is True
    async with s.host.require_sessions()() as session:
        found = await user_directory.get_users(session, [user_id, uuid.uuid4()])
    assert list(found) == [user_id]
    assert (found[user_id].deactivated, found[user_id].role) == (True, "member")
    await publish_update(s, user_of(user_id, name, deactivated=False), 2)
    assert (await wait_stored(s, user_id, 2)).deactivated is False


# -- deletion ----------------------------------------------------------------------------------


async def test_a_deleted_account_leaves_every_room_through_the_leave_path(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    channel = await s.room(ana)
    r = await s.client.post(f"/v1/rooms/{channel}/members", json={}, headers=s.auth(ben))
    assert r.status_code == 200, r.text
    dm = await s.client.post("/v1/dms", json={"user_id": str(ben)}, headers=s.auth(ana))
    assert dm.status_code in (200, 201), dm.text
    direct = dm.json()["room"]["id"]
    assert len(await memberships_of(s, ben)) == 2

    gone = user_of(ben, "deleted-0a1b2c3d", display_name="Deleted user", deleted=True)
    await publish_update(s, gone, 5)
    await s.spy.wait_for(
        lambda spy: (
            bool(spy.of(f"room.{channel}.member_left.v1"))
            and bool(spy.of(f"room.{direct}.member_left.v1"))
        )
    )
    assert await memberships_of(s, ben) == []
    assert {"room_id": channel, "user_id": str(ben)} in s.spy.of(f"room.{channel}.member_left.v1")
    await s.spy.wait_for(lambda spy: len(spy.of(f"user.{ben}.room.left.v1")) == 2)
    # The channel's timeline says so, in the deleted account's new name; the DM gets no entry.
    assert await system_entries(s, channel) == [("member_joined", ben), ("member_left", ben)]
    assert await system_entries(s, direct) == []
    row = await stored(s, ben)
    assert (row.deleted, row.username, row.version) == (True, "deleted-0a1b2c3d", 5)
    async with s.host.require_sessions()() as session:
        m = tables.messages
        text = await session.scalar(
            sa.select(m.c.text).where(m.c.room_id == UUID(channel), m.c.event == "member_left")
        )
    assert text == "Deleted user left the channel"
    # Ana still sees both rooms; the deleted account cannot be invited or messaged again.
    assert (await s.client.get(f"/v1/rooms/{direct}", headers=s.auth(ana))).status_code == 200
    again = await s.client.post("/v1/dms", json={"user_id": str(ben)}, headers=s.auth(ana))
    assert again.status_code == 404, again.text
    invite = await s.client.post(
        f"/v1/rooms/{channel}/members", json={"user_id": str(ben)}, headers=s.auth(ana)
    )
    assert invite.status_code == 404, invite.text


def envelope(user: types.User, version: int) -> Envelope[types.AuthUserUpdatedV1]:
    body = types.AuthUserUpdatedV1(user=user, version=version)
    key = names.AUTH_USER_UPDATED_V1
    return Envelope(key, body, message_id=None, correlation_id=None, headers={}, routing_key=key)


async def test_a_repeated_or_older_deletion_changes_nothing(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    channel = await s.room(ana)
    r = await s.client.post(f"/v1/rooms/{channel}/members", json={}, headers=s.auth(ben))
    assert r.status_code == 200, r.text
    deps = BusDeps(
        sessions=s.host.require_sessions(),
        relay=s.host.relay,
        delivery_limit=5,
        features=s.host.settings.feature_switches,
    )
    gone = user_of(ben, "deleted-00000000", display_name="Deleted user", deleted=True)
    # A redelivery, an older copy, a later update saying deleted again: one leave in all.
    for version in (3, 3, 2, 4):
        await users.handle_updated(deps, envelope(gone, version))
    assert await memberships_of(s, ben) == []
    assert await system_entries(s, channel) == [("member_joined", ben), ("member_left", ben)]
    assert (await stored(s, ben)).version == 4
    await s.spy.wait_for(lambda spy: bool(spy.of(f"room.{channel}.member_left.v1")))
    assert len(s.spy.of(f"room.{channel}.member_left.v1")) == 1


# -- look-ups ----------------------------------------------------------------------------------


async def test_usernames_to_ids_finds_members_of_the_room_only(ms_bus: Any) -> None:
    s = ms_bus
    ana = await s.register_user(f"ana{uuid.uuid4().hex[:6]}")
    ben = await s.register_user(f"ben{uuid.uuid4().hex[:6]}")
    cid = await s.register_user(f"cid{uuid.uuid4().hex[:6]}")  # not a member
    room = await s.room(ana)
    r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(ben))
    assert r.status_code == 200, r.text
    async with s.host.require_sessions()() as session:
        names_of = await user_directory.get_usernames(session, [ana, ben, cid])
        found = await user_directory.usernames_to_ids(
            session,
            [names_of[ana].upper(), names_of[ben], names_of[cid], "nobody-here"],
            UUID(room),
        )
        assert await user_directory.usernames_to_ids(session, [], UUID(room)) == {}
    assert found == {names_of[ana]: ana, names_of[ben]: ben}
