"""People across services through the edge (api-v1.1 C, issue #16).

- An admin deactivates a member whose socket is open: auth-service revokes every session of the
  member (`auth.session.revoked.v1`, reason `deactivated`), the gateway closes the socket 4401
  within 1 s (measured from the admin's 200), the old access token is refused by
  message-service (401) and presence-service (401) and by the gateway on reconnect, and sign-in
  gives the generic failure.
- A deleted account (`DELETE /v1/users/me`) leaves its rooms: message-service consumes
  `auth.user.updated.v1` (deleted) and removes the memberships through the leave path, so
  another member's socket sees `room.member_left` and the channel's `member_left` system entry.

The stack's owner is whoever registered first and its password is not the tests' to know, so
the admin here is a fresh account given the `admin` role in auth-service's database (roles are
read from it on every request, never from tokens). CHAT_E2E_AUTH_DATABASE_URL points at that
database when the edge is not the standard stack.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from chat_devtools.config import config_from_env
from sqlalchemy.ext.asyncio import create_async_engine

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    Edge,
    User,
    assert_problem,
    authenticated_socket,
    connect_socket,
    eventually_answers,
    open_edge,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

log = logging.getLogger(__name__)

CLOSE_WITHIN_S = 1.0  # api-v1.1 C: sockets closed within 1 s
REFUSED_WITHIN_S = 1.0  # api-v1 §3: a revoked token is refused everywhere within 1 s
UNAUTHORIZED_CLOSE = 4401


def auth_database_url() -> str:
    url = os.environ.get("CHAT_E2E_AUTH_DATABASE_URL")
    if url:
        return url
    config = config_from_env()
    found = config.database_url_for(config.service("auth"))
    assert found is not None
    return found


async def make_admin(user: User) -> None:
    """Give `user` the admin role in auth-service's database (see the module docstring)."""
    engine = create_async_engine(auth_database_url())
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE users SET role = 'admin' WHERE id = :id AND role = 'member'"),
                {"id": user.id},
            )
            role = await conn.scalar(
                sa.text("SELECT role FROM users WHERE id = :id"), {"id": user.id}
            )
    finally:
        await engine.dispose()
    # The first account of a fresh database is the owner already.
    assert role in ("admin", "owner"), role


@pytest.fixture(scope="module")
def people_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def people_edge(people_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(people_edge_url) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(people_edge: Edge) -> User:
    user = await people_edge.new_user("admin")
    await make_admin(user)
    features = (await user.ok("GET", "/v1/users/me")).get("features", [])
    if "admin" not in features:
        pytest.skip("feature `admin` is off on this stack")
    return user


async def test_deactivation_closes_the_socket_within_a_second_and_ends_the_tokens(
    people_edge: Edge, admin: User
) -> None:
    member = await people_edge.new_user("deact")
    room = await admin.create_room()
    await member.join(room["id"])
    token = member.token
    socket = await authenticated_socket(people_edge.ws_url, token)
    try:
        started = time.monotonic()
        r = await admin.post(f"/v1/admin/users/{member.id}/deactivate")
        answered = time.monotonic()
        assert r.status_code == 200, r.text
        assert r.json()["user"]["deactivated"] is True
        code = await socket.wait_closed(timeout=10)
        assert socket.closed_at is not None
        after_answer = socket.closed_at - answered
        log.info(
            "deactivation: socket closed %.0f ms after the 200 (%.0f ms after the request)",
            after_answer * 1000,
            (socket.closed_at - started) * 1000,
        )
        assert code == UNAUTHORIZED_CLOSE
        assert after_answer <= CLOSE_WITHIN_S, f"closed after {after_answer:.3f}s"
    finally:
        await socket.close()

    # The old access token: refused everywhere within a second of the close (each service applies
    # the revocation when its own consumer gets the event).
    rooms = await eventually_answers(lambda: member.get("/v1/rooms"), 401, REFUSED_WITHIN_S)
    assert_problem(rooms, 401)
    presence = await eventually_answers(
        lambda: member.get(f"/v1/presence?user_ids={admin.id}"), 401, REFUSED_WITHIN_S
    )
    assert_problem(presence, 401)
    again = await connect_socket(people_edge.ws_url)
    try:
        await again.send({"type": "auth", "token": token})
        refused = await again.wait_for("error", timeout=5)
        assert refused["code"] == "unauthorized"
        assert await again.wait_closed(timeout=5) == UNAUTHORIZED_CLOSE
    finally:
        await again.close()
    # Sign-in: the generic failure, as for a wrong password.
    login = await people_edge.login_response(member.username, member.password)
    assert_problem(login, 401, "invalid_credentials")

    # Reactivated, the member may sign in again and is still in the room (memberships kept).
    r = await admin.post(f"/v1/admin/users/{member.id}/reactivate")
    assert r.status_code == 200, r.text
    await people_edge.login(member)
    assert (await member.room(room["id"]))["id"] == room["id"]
    await member.leave(room["id"])
    await admin.leave(room["id"])


async def test_a_deleted_account_leaves_its_rooms(people_edge: Edge, admin: User) -> None:
    leaver = await people_edge.new_user("delete")
    room = await admin.create_room()
    await leaver.join(room["id"])
    dm = await admin.open_dm(leaver.id)
    async with admin.socket() as watcher:
        r = await leaver.request("DELETE", "/v1/users/me", json={"password": leaver.password})
        assert r.status_code == 204, r.text
        left = {(room["id"], leaver.id), (dm["id"], leaver.id)}
        seen: set[tuple[str, str]] = set()
        while seen != left:
            frame = await watcher.wait_for(
                "room.member_left",
                lambda f: (f["room_id"], f["user_id"]) in left - seen,
                timeout=10,
            )
            seen.add((frame["room_id"], frame["user_id"]))
        entry = await watcher.wait_for(
            "message.new",
            lambda f: (
                f["message"]["room_id"] == room["id"] and f["message"].get("event") == "member_left"
            ),
            timeout=10,
        )
        assert entry["message"]["sender_id"] == leaver.id
    members = await admin.ok("GET", f"/v1/rooms/{room['id']}/members")
    assert leaver.id not in {m["user_id"] for m in members["members"]}
    # The account is gone: no new direct room with it, no sign-in.
    r = await admin.post("/v1/dms", json={"user_id": leaver.id})
    assert_problem(r, 404)
    login = await people_edge.login_response(leaver.username, leaver.password)
    assert login.status_code == 401
    await admin.leave(room["id"])
