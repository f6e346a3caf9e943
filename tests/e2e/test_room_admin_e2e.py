"""Room management through the edge (api-v1.1 C, issue #17).

- A room admin renames a channel, sets its topic and archives it over REST: another member's
  open socket gets `room.updated` with the new state and the `system` entries as `message.new`;
  their sends to the archived room are refused 403 `archived`.
- A room admin removes a member whose socket is open: that socket gets `room.member_left` for
  themselves within 1 s of the DELETE's 204 (measured) and nothing of the room afterwards, while
  another member's socket still gets the room's messages; the room's history is 404 to them and
  search finds nothing of it.
"""

from __future__ import annotations

import sys
import time
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
    Edge,
    Socket,
    User,
    assert_problem,
    open_edge,
    unique_name,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

REMOVED_WITHIN_S = 1.0  # api-v1.1 C: the removed user's sockets stop receiving within 1 s
QUIET_WINDOW_S = 2.0  # how long the removed socket is watched for stray frames of the room


@pytest.fixture(scope="module")
def room_admin_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def room_admin_edge(room_admin_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(room_admin_edge_url) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def trio(room_admin_edge: Edge) -> AsyncIterator[list[User]]:
    """Three people shared by the module's tests (registrations are throttled per address)."""
    users = await room_admin_edge.pooled_users(3)
    features = (await users[0].ok("GET", "/v1/users/me")).get("features", [])
    if "rooms" not in features:
        pytest.skip("feature `rooms` is off on this stack")
    yield users
    # Pooled users are reused by later runs: leave the channels made here.
    for user in users:
        await user.leave_all_channels()


def of_room(frame: dict[str, Any], room_id: str) -> bool:
    """Whether a frame carries anything of this room."""
    message = frame.get("message")
    room = frame.get("room")
    return (
        frame.get("room_id") == room_id
        or (isinstance(message, dict) and message.get("room_id") == room_id)
        or (isinstance(room, dict) and room.get("id") == room_id)
    )


def _is_message(message_id: str) -> Any:
    return lambda frame: frame["message"]["id"] == message_id


async def system_entry(socket: Socket, room_id: str, event: str) -> dict[str, Any]:
    frame = await socket.wait_for(
        "message.new",
        lambda f: (
            f["message"]["room_id"] == room_id
            and f["message"]["kind"] == "system"
            and f["message"].get("event") == event
        ),
    )
    message: dict[str, Any] = frame["message"]
    return message


async def test_rename_topic_and_archive_reach_another_members_socket(trio: list[User]) -> None:
    ana, ben, _ = trio
    room = await ana.create_room(unique_name("plans"))
    room_id = str(room["id"])
    assert room["my_role"] == "admin"
    await ben.join(room_id)
    new_name = unique_name("design")
    async with ben.socket() as watcher:
        body = await ana.ok(
            "PATCH", f"/v1/rooms/{room_id}", json={"name": new_name, "topic": "Ship on Friday"}
        )
        assert (body["room"]["name"], body["room"]["topic"]) == (new_name, "Ship on Friday")
        # One change, one `room.updated` per member (with both values), and an entry each.
        update = await watcher.wait_for(
            "room.updated", lambda f: f["room"]["id"] == room_id and f["room"]["name"] == new_name
        )
        assert (update["room"]["topic"], update["room"]["my_role"]) == ("Ship on Friday", "member")
        renamed = await system_entry(watcher, room_id, "renamed")
        assert (renamed["actor_id"], renamed["value"]) == (ana.id, new_name)
        assert renamed["text"].endswith(f"renamed the channel to #{new_name}")
        topic = await system_entry(watcher, room_id, "topic_changed")
        assert topic["value"] == "Ship on Friday"

        archived = await ana.ok("POST", f"/v1/rooms/{room_id}/archive")
        assert archived["room"]["archived"] is True
        await watcher.wait_for(
            "room.updated", lambda f: f["room"]["id"] == room_id and f["room"]["archived"] is True
        )
        await system_entry(watcher, room_id, "archived")
        r = await ben.post(
            f"/v1/rooms/{room_id}/messages",
            json={"client_msg_id": str(uuid.uuid4()), "text": "anyone?"},
        )
        assert_problem(r, 403, "archived")
        # Over the socket too: an `error` frame with the same code.
        cmid = await watcher.send_message(room_id, "still anyone?")
        error = await watcher.wait_for("error", lambda f: f.get("ref") == cmid)
        assert error["code"] == "archived"

        await ana.ok("POST", f"/v1/rooms/{room_id}/unarchive")
        await system_entry(watcher, room_id, "unarchived")
        assert (await ben.send_rest(room_id, "back again"))["kind"] == "text"


async def test_a_removed_members_socket_stops_receiving_the_room_within_a_second(
    trio: list[User],
) -> None:
    ana, ben, cat = trio
    room = await ana.create_room(unique_name("secret"), visibility="private")
    room_id = str(room["id"])
    await ana.invite(room_id, ben.id)
    await ana.invite(room_id, cat.id)
    word = f"w{uuid.uuid4().hex[:10]}"
    async with ana.socket() as staying, cat.socket() as removed:
        # Both sockets receive the room before the removal.
        first = await ben.send_rest(room_id, f"before {word}")
        for socket in (staying, removed):
            await socket.wait_for("message.new", lambda f: f["message"]["id"] == first["id"])
        found = await cat.get("/v1/search", params={"q": word})
        searchable = found.status_code == 200
        if searchable:
            assert any(r["room_id"] == room_id for r in found.json()["results"])

        r = await ana.delete(f"/v1/rooms/{room_id}/members/{cat.id}")
        assert r.status_code == 204, r.text
        answered = time.monotonic()
        left = await removed.wait_for(
            "room.member_left",
            lambda f: f["room_id"] == room_id and f["user_id"] == cat.id,
            timeout=5.0,
        )
        elapsed = time.monotonic() - answered
        assert elapsed < REMOVED_WITHIN_S, f"room.member_left after {elapsed:.3f}s"
        entry = await system_entry(staying, room_id, "member_removed")
        assert (entry["actor_id"], entry["subject_id"]) == (ana.id, cat.id)

        sent = [await ben.send_rest(room_id, f"after {word} {i}") for i in range(3)]
        for message in sent:
            await staying.wait_for("message.new", _is_message(str(message["id"])))
        # A generous window for anything of the room still on its way to the removed socket.
        deadline = time.monotonic() + QUIET_WINDOW_S
        while time.monotonic() < deadline:
            await removed.wait_change(deadline - time.monotonic())
        after = removed.frames[removed.frames.index(left) + 1 :]
        stray = [f for f in after if of_room(f, room_id)]
        assert stray == [], stray

    assert_problem(
        await cat.get(f"/v1/rooms/{room_id}/messages", params={"after_seq": 0}),
        404,
        "room_not_found",
    )
    assert_problem(await cat.get(f"/v1/rooms/{room_id}"), 404, "room_not_found")
    if searchable:
        found = await cat.get("/v1/search", params={"q": word})
        assert found.status_code == 200, found.text
        assert [r for r in found.json()["results"] if r["room_id"] == room_id] == []
