"""Every message exactly once, in one order for everyone (QA-002; api-v1 §4, §6, §7).

Through the edge of a running stack with real sockets: 20 concurrent senders x 50 messages into
5 rooms, every member listening; each member's final view (live `message.new` frames merged by
`seq` with `after_seq` catch-up) must equal the database as the history endpoint returns it.
Retried sends with the same client_msg_id (three times on one socket, again after a reconnect,
and over REST) make one message and are acknowledged.
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

# The shared helpers live in tests/support (a plain directory, not an installed package).
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    ClientView,
    Edge,
    Message,
    Socket,
    User,
    assert_problem,
    authenticated_socket,
    open_edge,
    unique_name,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(120),
]

ROOMS = 5
SENDERS_PER_ROOM = 4  # 20 senders in all
PER_SENDER = 50
ACK_TIMEOUT_S = 45.0
LIVE_TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def eo_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def eo_edge(eo_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(eo_edge_url) as edge:
        yield edge
        # Pooled users are reused by later runs: leave the rooms these tests made.
        for user in await edge.pooled_users(2):
            await user.leave_all_channels()


def seqs_and_ids(messages: list[Message]) -> list[tuple[int, str]]:
    return [(int(m["seq"]), str(m["id"])) for m in messages]


def texts_of(messages: list[Message]) -> list[Message]:
    """The `text` entries: joins of channels are `system` entries (api-v1.1 A) between them."""
    return [m for m in messages if m["kind"] == "text"]


def assert_gapless_and_unique(room_id: str, messages: list[Message], expected: int) -> None:
    """Every entry's seq 1..n without a gap, and exactly `expected` text entries."""
    seqs = [int(m["seq"]) for m in messages]
    assert seqs == list(range(1, len(seqs) + 1)), (
        f"room {room_id}: seqs are not gapless (first problems: "
        f"{[s for i, s in enumerate(seqs, 1) if s != i][:5]}, count {len(seqs)})"
    )
    assert len(texts_of(messages)) == expected, f"room {room_id}: not {expected} messages"
    ids = [m["id"] for m in messages]
    assert len(set(ids)) == len(ids), f"room {room_id}: a message id appears twice"
    keys = [(m["sender_id"], m["client_msg_id"]) for m in messages]
    assert len(set(keys)) == len(keys), f"room {room_id}: a (sender, client_msg_id) appears twice"
    assert all(m["room_id"] == room_id for m in messages)


async def send_burst(socket: Socket, room_id: str, label: str, count: int) -> list[str]:
    """Send `count` messages back to back (the burst fits the 100-frame bucket); return ids."""
    return [await socket.send_message(room_id, f"{label} #{k}") for k in range(count)]


async def test_concurrent_senders_every_view_equals_the_database(eo_edge: Edge) -> None:
    pool = await eo_edge.pooled_users(ROOMS + ROOMS * SENDERS_PER_ROOM)
    listeners, senders = pool[:ROOMS], pool[ROOMS:]
    rooms = [await owner.create_room(unique_name("eo"), "public") for owner in listeners]
    room_ids = [str(r["id"]) for r in rooms]
    room_of: dict[str, str] = {}
    for i, sender in enumerate(senders):
        room_of[sender.id] = room_ids[i % ROOMS]
    await asyncio.gather(*(s.join(room_of[s.id]) for s in senders))
    members: dict[str, list[User]] = {rid: [listeners[i]] for i, rid in enumerate(room_ids)}
    for sender in senders:
        members[room_of[sender.id]].append(sender)

    everyone = listeners + senders
    # Sockets open after the joins: `ready` promises bindings for all of the user's rooms.
    sockets = await asyncio.gather(
        *(authenticated_socket(eo_edge.ws_url, u.token) for u in everyone)
    )
    socket_of = {u.id: s for u, s in zip(everyone, sockets, strict=True)}
    views = {u.id: ClientView(u) for u in everyone}
    for u in everyone:
        views[u.id].follow(socket_of[u.id])
    # The delivery rule on `ready`: fetch after_seq (the joins' `system` entries came before).
    await asyncio.gather(*(views[u.id].catch_up([rid]) for rid, us in members.items() for u in us))
    try:
        sent = await asyncio.gather(
            *(send_burst(socket_of[s.id], room_of[s.id], s.username, PER_SENDER) for s in senders)
        )
        sent_by = {s.id: cmids for s, cmids in zip(senders, sent, strict=True)}

        async def acks_of(sender: User) -> list[Message]:
            socket = socket_of[sender.id]
            return [await socket.wait_ack(c, ACK_TIMEOUT_S) for c in sent_by[sender.id]]

        acked = await asyncio.gather(*(acks_of(s) for s in senders))
        ack_by = {s.id: acks for s, acks in zip(senders, acked, strict=True)}

        total = SENDERS_PER_ROOM * PER_SENDER
        database: dict[str, list[Message]] = {}
        for i, room_id in enumerate(room_ids):
            history = await listeners[i].history(room_id)
            assert_gapless_and_unique(room_id, history, total)
            database[room_id] = history
            room = await listeners[i].room(room_id)
            assert room["last_seq"] == len(history)

        by_id = {m["id"]: m for msgs in database.values() for m in msgs}
        for sender in senders:
            room_id = room_of[sender.id]
            # The ack carries the committed message, identical to what the database returns.
            for cmid, ack in zip(sent_by[sender.id], ack_by[sender.id], strict=True):
                assert ack["client_msg_id"] == cmid
                assert ack["room_id"] == room_id
                assert ack["sender_id"] == sender.id
                assert by_id.get(ack["id"]) == ack, f"ack differs from history: {ack}"
            # One sender's messages keep the order they were sent in.
            own = [m for m in texts_of(database[room_id]) if m["sender_id"] == sender.id]
            mine = [m["client_msg_id"] for m in own]
            assert mine == sent_by[sender.id], f"{sender.username}: order or count differs"
            texts = [m["text"] for m in own]
            assert texts == [f"{sender.username} #{k}" for k in range(PER_SENDER)]

        # Every member: live frames (up to a deadline), then after_seq catch-up, equals the DB.
        live_complete: dict[tuple[str, str], bool] = {}

        async def settle(user: User, room_id: str) -> None:
            view = views[user.id]
            live_complete[(user.username, room_id)] = await view.wait_live(
                room_id, len(database[room_id]), LIVE_TIMEOUT_S
            )
            await view.catch_up([room_id])

        await asyncio.gather(*(settle(u, rid) for rid, us in members.items() for u in us))
        for room_id, users in members.items():
            expected = seqs_and_ids(database[room_id])
            for user in users:
                room_view = views[user.id].room(room_id)
                assert not room_view.conflicts, (
                    f"{user.username} got two messages for one seq: {room_view.conflicts[:2]}"
                )
                assert seqs_and_ids(room_view.messages()) == expected, (
                    f"{user.username}'s view of {room_id} differs from the database"
                )
                # Full equality, not just ids: the live frames carry the stored message.
                assert room_view.messages() == database[room_id]
            # Members of other rooms never receive this room's messages.
            member_ids = {u.id for u in users}
            for other in everyone:
                if other.id not in member_ids:
                    leaked = [
                        f
                        for f in socket_of[other.id].of_type("message.new")
                        if f["message"]["room_id"] == room_id
                    ]
                    assert not leaked, f"{other.username} got messages of a room it is not in"
        # api-v1 §6: every message committed after `ready` reaches the socket.
        missing = sorted(key for key, ok in live_complete.items() if not ok)
        assert not missing, f"live frames alone did not complete these views: {missing}"
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
        for room_id, users in members.items():
            await asyncio.gather(*(u.leave(room_id) for u in users), return_exceptions=True)


async def two_members(edge: Edge) -> tuple[User, User, str]:
    owner, other = await edge.pooled_users(2)
    room = await owner.create_room(unique_name("eo_retry"), "public")
    await other.join(str(room["id"]))
    return owner, other, str(room["id"])


def with_cmid(messages: list[Message], cmid: str) -> list[Message]:
    return [m for m in messages if m["client_msg_id"] == cmid]


async def test_the_same_frame_three_times_and_after_a_reconnect_is_one_message(
    eo_edge: Edge,
) -> None:
    sender, listener, room_id = await two_members(eo_edge)
    async with listener.socket() as watch:
        listener_view = ClientView(listener)
        listener_view.follow(watch)
        await listener_view.catch_up([room_id])  # on `ready`: the join's `system` entry
        cmid = str(uuid.uuid4())
        frame: dict[str, Any] = {
            "type": "message.send",
            "client_msg_id": cmid,
            "room_id": room_id,
            "text": "said once, sent three times",
        }
        async with sender.socket() as first:
            for _ in range(3):
                await first.send(frame)
            acked = await first.wait_ack(cmid)
            # The gateway may answer each copy; whatever it answers is the one message.
            await first.send({"type": "ping"})
            await first.wait_for("pong")
            for extra in first.of_type("message.ack"):
                assert extra["message"]["id"] == acked["id"]
            assert not [e for e in first.of_type("error") if e.get("ref") == cmid], (
                "a retried send was refused"
            )

        # A client that lost the ack retries on its next socket: acked with the same message.
        async with sender.socket() as second:
            await second.send(frame)
            again = await second.wait_ack(cmid)
        assert again == acked

        history = await sender.history(room_id)
        assert with_cmid(history, cmid) == [acked]
        assert texts_of(history) == [acked]

        await listener_view.wait_live(room_id, acked["seq"], 5.0)
        await listener_view.catch_up([room_id])
        assert texts_of(listener_view.room(room_id).messages()) == [acked]
        assert not listener_view.room(room_id).conflicts


async def test_a_send_retried_after_the_socket_dropped_before_its_ack(eo_edge: Edge) -> None:
    sender, _listener, room_id = await two_members(eo_edge)
    cmids: list[str] = []
    socket = await authenticated_socket(eo_edge.ws_url, sender.token)
    for k in range(5):
        cmids.append(await socket.send_message(room_id, f"in flight {k}"))
    await socket.close()  # whatever was acked or not, the client retries all five
    async with sender.socket() as again:
        for k, cmid in enumerate(cmids):
            await again.send_message(room_id, f"in flight {k}", cmid)
        acks = [await again.wait_ack(c) for c in cmids]
    history = texts_of(await sender.history(room_id))
    assert [m["client_msg_id"] for m in history] == cmids
    first = history[0]["seq"]
    assert [m["seq"] for m in history] == list(range(first, first + 5))
    assert [a["id"] for a in acks] == [m["id"] for m in history]


async def test_rest_and_socket_retries_share_the_client_msg_id(eo_edge: Edge) -> None:
    sender, _listener, room_id = await two_members(eo_edge)
    before = await sender.history(room_id)  # the listener's `member_joined` entry
    cmid = str(uuid.uuid4())
    body = {"client_msg_id": cmid, "text": "  verbatim <b>text</b>  "}
    first = await sender.post(f"/v1/rooms/{room_id}/messages", json=body)
    assert first.status_code == 201, first.text
    created = first.json()["message"]
    assert created["text"] == body["text"], "text must be stored verbatim, never trimmed"
    assert created["seq"] == len(before) + 1
    assert created["kind"] == "text"
    repeat = await sender.post(f"/v1/rooms/{room_id}/messages", json=body)
    assert repeat.status_code == 200, repeat.text
    assert repeat.json()["message"] == created

    async with sender.socket() as socket:
        await socket.send_message(room_id, body["text"], cmid)
        assert await socket.wait_ack(cmid) == created

        # The same client_msg_id in another room is a different message: refused.
        other = await sender.create_room(unique_name("eo_other"), "public")
        other_id = str(other["id"])
        # The gateway learns the new membership from an event: wait for it, as a client does.
        await socket.wait_for("room.member_joined", lambda f: f.get("room_id") == other_id)
        await socket.send_message(other_id, "reuse", cmid)
        error = await socket.wait_for("error", lambda f: f.get("ref") == cmid)
        assert error["code"] == "client_msg_id_reused"
    r = await sender.post(f"/v1/rooms/{other_id}/messages", json=body)
    assert_problem(r, 409, "client_msg_id_reused")
    assert await sender.history(other_id) == []
    assert texts_of(await sender.history(room_id)) == [created]


async def test_a_listener_that_was_away_catches_up_exactly_once(eo_edge: Edge) -> None:
    """Messages committed while a member's socket was closed reach its view by after_seq on
    `ready`; messages sent around the reconnect are neither lost nor shown twice."""
    sender, listener, room_id = await two_members(eo_edge)
    view = ClientView(listener)
    async with sender.socket() as out:

        async def send(label: str, count: int) -> None:
            cmids = await send_burst(out, room_id, label, count)
            for cmid in cmids:
                await out.wait_ack(cmid)

        first = await authenticated_socket(eo_edge.ws_url, listener.token)
        view.follow(first)
        await view.catch_up([room_id])  # on `ready`: the join's `system` entry
        base = view.room(room_id).contiguous
        await send("before", 10)
        assert await view.wait_live(room_id, base + 10, LIVE_TIMEOUT_S)
        await first.close()  # a network drop / sleeping tab

        await send("while away", 15)
        burst = asyncio.create_task(send("during reconnect", 10))
        second = await authenticated_socket(eo_edge.ws_url, listener.token)
        view.follow(second)
        await view.catch_up([room_id])  # the delivery rule: on `ready`, fetch after_seq
        await burst
        await send("after", 5)
        await view.wait_live(room_id, base + 40, LIVE_TIMEOUT_S)
        await view.catch_up([room_id])
        await second.close()

    database = await listener.history(room_id)
    assert_gapless_and_unique(room_id, database, 40)
    room_view = view.room(room_id)
    assert not room_view.conflicts
    assert room_view.messages() == database
    assert room_view.from_history >= 15, "the messages sent while away came from history"
    texts = [m["text"] for m in texts_of(database)]
    assert texts[:10] == [f"before #{k}" for k in range(10)]
    assert texts[10:25] == [f"while away #{k}" for k in range(15)]
    assert texts[-5:] == [f"after #{k}" for k in range(5)]
