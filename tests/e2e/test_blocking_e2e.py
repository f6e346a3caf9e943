"""Blocking and group direct rooms through the edge (api-v1.1 C, issue #17).

- A blocks B in auth-service (`PUT /v1/users/{id}/block`); message-service learns it from
  `auth.block.changed.v1` and then refuses every new entry of their 1:1 direct room, both ways,
  over REST (403 problem `blocked`) and over WebSocket (`error` frame `blocked`);
  `GET /v1/users/me/blocks` lists B; unblocking restores sending.
- A mention from a user the caller blocks does not count in the caller's `mention_count`.
- A group direct room of three made by anyone of them, in any order, is one room.

The block reaches message-service through the outbox and the bus, after the 204: the refusal
(and the lifting of it) is polled with a deadline, as `User.open_dm` polls a new user. Blocks
outlive a run, so the two people who block are fresh accounts, never pooled ones.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    Edge,
    User,
    assert_problem,
    eventually_answers,
    open_edge,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

PROPAGATION_S = 10.0  # auth-service outbox → bus → message-service projection


@pytest.fixture(scope="module")
def blocking_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def blocking_edge(blocking_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(blocking_edge_url) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(blocking_edge: Edge) -> AsyncIterator[tuple[User, User]]:
    """Ana and Bo: fresh accounts (see the module docstring); Ana lifts her blocks at the end."""
    ana, bo = await blocking_edge.new_users(2, "block")
    features = (await ana.ok("GET", "/v1/users/me")).get("features", [])
    if "blocking" not in features or "rooms" not in features:
        pytest.skip("features `blocking` and `rooms` must be on for this module")
    yield ana, bo
    for user_id in (await ana.ok("GET", "/v1/users/me/blocks"))["user_ids"]:
        await ana.ok("DELETE", f"/v1/users/{user_id}/block", 204)


async def send(user: User, room_id: str, text: str) -> httpx.Response:
    return await user.post(
        f"/v1/rooms/{room_id}/messages", json={"client_msg_id": str(uuid.uuid4()), "text": text}
    )


async def until(user: User, room_id: str, status: int) -> httpx.Response:
    """Send until the answer has `status` (the block's propagation, see the module docstring)."""
    return await eventually_answers(
        lambda: send(user, room_id, "are you there?"), status, PROPAGATION_S
    )


async def refused_over_the_socket(user: User, room_id: str) -> str:
    """The code of the `error` frame answering a `message.send` in `room_id` (no ack comes)."""
    async with user.socket() as socket:
        cmid = await socket.send_message(room_id, "and over the socket?")
        frame = await socket.wait_for("error", lambda f: f.get("ref") == cmid, timeout=10)
        assert not [f for f in socket.of_type("message.ack") if f.get("client_msg_id") == cmid]
        return str(frame.get("code"))


async def test_a_block_refuses_direct_entries_both_ways_until_lifted(
    pair: tuple[User, User],
) -> None:
    ana, bo = pair
    dm = await ana.open_dm(bo.id)
    assert (await send(bo, dm["id"], "hello")).status_code == 201
    await ana.ok("PUT", f"/v1/users/{bo.id}/block", 204)
    await ana.ok("PUT", f"/v1/users/{bo.id}/block", 204)  # idempotent
    assert (await ana.ok("GET", "/v1/users/me/blocks"))["user_ids"] == [bo.id]
    assert (await bo.ok("GET", "/v1/users/me/blocks"))["user_ids"] == []
    # The blocked person cannot write to the blocker, and the blocker cannot write either.
    assert_problem(await until(bo, dm["id"], 403), 403, "blocked")
    assert_problem(await send(ana, dm["id"], "hi"), 403, "blocked")
    assert await refused_over_the_socket(bo, dm["id"]) == "blocked"
    assert await refused_over_the_socket(ana, dm["id"]) == "blocked"
    last_seq = (await ana.room(dm["id"]))["last_seq"]
    # Lifted: both may write again (and the refusals stored nothing).
    await ana.ok("DELETE", f"/v1/users/{bo.id}/block", 204)
    assert (await ana.ok("GET", "/v1/users/me/blocks"))["user_ids"] == []
    assert (await until(bo, dm["id"], 201)).status_code == 201
    assert (await send(ana, dm["id"], "welcome back")).status_code == 201
    assert (await ana.room(dm["id"]))["last_seq"] == last_seq + 2


async def test_a_blocked_senders_mentions_do_not_count(
    blocking_edge: Edge, pair: tuple[User, User]
) -> None:
    ana, bo = pair
    (cy,) = await blocking_edge.pooled_users(1)
    room = await cy.create_room()
    try:
        await ana.join(room["id"])
        await bo.join(room["id"])
        await ana.ok("PUT", f"/v1/users/{bo.id}/block", 204)
        dm = await ana.open_dm(bo.id)
        assert_problem(await until(bo, dm["id"], 403), 403, "blocked")  # projected by now
        # Shared rooms refuse nothing: the client hides the entries; they are no mentions.
        await bo.send_rest(room["id"], f"@{ana.username} look at this")
        await cy.send_rest(room["id"], f"@{ana.username} and this")
        assert (await ana.room(room["id"]))["mention_count"] == 1
        await ana.ok("DELETE", f"/v1/users/{bo.id}/block", 204)
        assert (await until(bo, dm["id"], 201)).status_code == 201
        assert (await ana.room(room["id"]))["mention_count"] == 2
    finally:
        for user in (ana, bo, cy):
            await user.leave(room["id"])


async def test_a_group_direct_room_is_one_room_per_set(
    blocking_edge: Edge, pair: tuple[User, User]
) -> None:
    ana, bo = pair
    (cy,) = await blocking_edge.pooled_users(1)
    first = await ana.ok("POST", "/v1/dms", json={"user_ids": [bo.id, cy.id]})
    room = first["room"]
    assert (room["kind"], room["member_count"]) == ("direct", 3)
    assert room["name"] == ", ".join(sorted((ana.username, bo.username, cy.username)))
    for user, listed in ((cy, [bo.id, ana.id]), (bo, [cy.id, ana.id, bo.id])):
        again = await user.ok("POST", "/v1/dms", json={"user_ids": listed})
        assert again["room"]["id"] == room["id"]
    # Everyone of the three can write in it.
    for user in (ana, bo, cy):
        await user.send_rest(room["id"], f"hi from {user.username}")
    assert (await cy.room(room["id"]))["last_seq"] >= 3
    await cy.leave(room["id"])
