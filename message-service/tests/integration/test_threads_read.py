"""The read side of threads, mentions and notify levels (api-v1.1 A, B) against a real database
and broker: history with replies (catch-up) and without them (content_only), the thread
endpoint, thread read positions and `unread_replies`, `unread_count` without replies,
`mention_count`, `notify` and `room.updated.v1`, and who may see what.

The entries are written as the send path stores them (`seed`: the row, the root's summary, the
`mentions` rows), so these tests pin the read side whatever the write path's progress; the
contract shapes are checked with `chat_contracts` on every body."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
import pytest_asyncio
import sqlalchemy as sa
from chat_contracts import names, types
from chat_runtime.messaging import OutgoingMessage, shard_of

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SHARDS = 2  # the conftest's


def problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code, r.text


def as_message(body: dict[str, Any]) -> dict[str, Any]:
    """The body validates against the contract's `message` (REST adds `me`/`unread_replies`,
    which the contract knows as optional)."""
    msgspec.convert(body, types.Message)
    return body


def as_room(body: dict[str, Any]) -> dict[str, Any]:
    msgspec.convert(body, types.Room)
    return body


@dataclass(frozen=True)
class Entry:
    id: str
    seq: int


class Room:
    """A room of the shared stack, entries seeded into it and the read side's endpoints."""

    def __init__(self, s: Any, room_id: str) -> None:
        self.s = s
        self.id = room_id
        self.uuid = uuid.UUID(room_id)

    async def join(self, user: uuid.UUID) -> None:
        r = await self.s.client.post(
            f"/v1/rooms/{self.id}/members", json={}, headers=self.s.auth(user)
        )
        assert r.status_code == 200, r.text

    async def seed(
        self,
        sender: uuid.UUID,
        *,
        root: Entry | None = None,
        mention: Sequence[uuid.UUID] = (),
        room: bool = False,
        text: str = "hi",
    ) -> Entry:
        """A `text` entry as the send path stores it: the next seq; a reply updates its root's
        summary and `state_seq`; mentions on the row and (without the sender) in `mentions`."""
        message_id = uuid.uuid4()
        root_id = uuid.UUID(root.id) if root is not None else None
        parsed = bool(mention) or room
        async with self.s.host.require_sessions()() as session, session.begin():
            seq = (
                await session.execute(
                    sa.text(
                        "UPDATE rooms SET last_seq = last_seq + 1,"
                        " last_activity_at = CASE WHEN CAST(:reply AS boolean)"
                        " THEN last_activity_at ELSE now() END"
                        " WHERE id = :room RETURNING last_seq"
                    ),
                    {"room": self.uuid, "reply": root is not None},
                )
            ).scalar_one()
            await session.execute(
                sa.text(
                    "INSERT INTO messages (id, room_id, seq, kind, sender_id, text, client_msg_id,"
                    " created_at, thread_root_id, mention_user_ids, mention_room)"
                    " VALUES (:id, :room, :seq, 'text', :sender, :text, gen_random_uuid(), now(),"
                    " :root, :users, :at_room)"
                ),
                {
                    "id": message_id,
                    "room": self.uuid,
                    "seq": seq,
                    "sender": sender,
                    "text": text,
                    "root": root_id,
                    "users": list(mention) if parsed else None,
                    "at_room": room if parsed else None,
                },
            )
            for user in mention:
                if user != sender:
                    await session.execute(
                        sa.text(
                            "INSERT INTO mentions (message_id, user_id, room_id, seq,"
                            " thread_root_id) VALUES (:id, :user, :room, :seq, :root)"
                        ),
                        {
                            "id": message_id,
                            "user": user,
                            "room": self.uuid,
                            "seq": seq,
                            "root": root_id,
                        },
                    )
            if root_id is not None:
                await session.execute(
                    sa.text(
                        "UPDATE messages SET reply_count = reply_count + 1, last_reply_at = now(),"
                        " state_seq = :seq, participant_ids = CASE"
                        " WHEN CAST(:sender AS uuid) = ANY(coalesce(participant_ids, '{}'))"
                        " THEN participant_ids"
                        " ELSE array_append(coalesce(participant_ids, '{}'), CAST(:sender AS uuid))"
                        " END WHERE id = :root"
                    ),
                    {"seq": seq, "sender": sender, "root": root_id},
                )
        return Entry(str(message_id), seq)

    async def seed_edit(self, sender: uuid.UUID, target: Entry, *, room: bool) -> Entry:
        """An `edit` entry as the send path stores it: it carries the mentions it gives its
        target (the target's row and `mentions` rows are the write path's, not needed here)."""
        message_id = uuid.uuid4()
        async with self.s.host.require_sessions()() as session, session.begin():
            seq = (
                await session.execute(
                    sa.text(
                        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = :room"
                        " RETURNING last_seq"
                    ),
                    {"room": self.uuid},
                )
            ).scalar_one()
            await session.execute(
                sa.text(
                    "INSERT INTO messages (id, room_id, seq, kind, sender_id, text, client_msg_id,"
                    " created_at, target_id, mention_user_ids, mention_room)"
                    " VALUES (:id, :room, :seq, 'edit', :sender, 'edited', gen_random_uuid(),"
                    " now(), :target, '{}', :at_room)"
                ),
                {
                    "id": message_id,
                    "room": self.uuid,
                    "seq": seq,
                    "sender": sender,
                    "target": uuid.UUID(target.id),
                    "at_room": room,
                },
            )
        return Entry(str(message_id), seq)

    async def delete(self, entry: Entry) -> None:
        """What a delete leaves: the target deleted, its mentions emptied."""
        async with self.s.host.require_sessions()() as session, session.begin():
            target = uuid.UUID(entry.id)
            await session.execute(
                sa.text(
                    "UPDATE messages SET deleted = true, text = '', mention_user_ids = NULL,"
                    " mention_room = NULL WHERE id = :id"
                ),
                {"id": target},
            )
            await session.execute(
                sa.text("DELETE FROM mentions WHERE message_id = :id"), {"id": target}
            )

    async def get(self, user: uuid.UUID, path: str) -> Any:
        return await self.s.client.get(f"/v1/rooms/{self.id}{path}", headers=self.s.auth(user))

    async def history(self, user: uuid.UUID, query: str = "after_seq=0&limit=200") -> Any:
        r = await self.get(user, f"/messages?{query}")
        assert r.status_code == 200, r.text
        body = r.json()
        for m in body["messages"]:
            as_message(m)
        return body

    async def entry(self, user: uuid.UUID, entry: Entry) -> dict[str, Any]:
        found: dict[str, Any] = next(
            m for m in (await self.history(user))["messages"] if m["id"] == entry.id
        )
        return found

    async def thread(self, user: uuid.UUID, root: Entry | str, query: str = "") -> Any:
        root_id = root.id if isinstance(root, Entry) else root
        return await self.get(user, f"/threads/{root_id}?{query}")

    async def read(self, user: uuid.UUID, seq: int, root: Entry | None = None) -> Any:
        body: dict[str, Any] = {"seq": seq}
        if root is not None:
            body["thread_root_id"] = root.id
        return await self.s.client.post(
            f"/v1/rooms/{self.id}/read", json=body, headers=self.s.auth(user)
        )

    async def card(self, user: uuid.UUID) -> dict[str, Any]:
        r = await self.get(user, "")
        assert r.status_code == 200, r.text
        return as_room(r.json()["room"])

    async def listed(self, user: uuid.UUID) -> dict[str, Any]:
        r = await self.s.client.get("/v1/rooms", headers=self.s.auth(user))
        assert r.status_code == 200, r.text
        rooms = [as_room(x) for x in r.json()["rooms"]]
        found: dict[str, Any] = next(x for x in rooms if x["id"] == self.id)
        return found

    async def counts(self, user: uuid.UUID) -> tuple[int, int]:
        """(unread_count, mention_count), the same from GET /v1/rooms and the room's card."""
        listed, card = await self.listed(user), await self.card(user)
        assert (listed["unread_count"], listed["mention_count"]) == (
            card["unread_count"],
            card["mention_count"],
        )
        return card["unread_count"], card["mention_count"]


async def new_room(s: Any, owner: uuid.UUID, visibility: str = "public") -> Room:
    return Room(s, await s.room(owner, visibility=visibility))


async def test_catch_up_has_replies_and_content_only_pages_do_not(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = await s.register_user(), await s.register_user()
    room = await new_room(s, ana)
    root = await room.seed(ana, text="root")
    replies = [await room.seed(ben, root=root, text=f"r{i}") for i in range(2)]
    top = await room.seed(ben, text="top")
    every = await room.history(ana)
    assert [m["id"] for m in every["messages"]] == [root.id, *(r.id for r in replies), top.id]
    assert [m.get("thread_root_id") for m in every["messages"]] == [None, root.id, root.id, None]
    # The newest page (no parameters) holds every entry too.
    newest = await room.history(ana, "limit=50")
    assert [m["id"] for m in newest["messages"]] == [m["id"] for m in every["messages"]]
    for query in (f"before_seq={top.seq + 1}", f"around_seq={root.seq}"):
        page = await room.history(ana, f"{query}&content_only=true&limit=10")
        assert [m["id"] for m in page["messages"]] == [root.id, top.id], query
        assert page["covered_from_seq"] == 1
        assert page["covered_to_seq"] == top.seq
    # The root carries its thread summary everywhere.
    summary = next(m for m in every["messages"] if m["id"] == root.id)["thread"]
    assert summary["reply_count"] == 2
    assert summary["participant_ids"] == [str(ben)]
    assert summary["last_reply_at"]


async def test_thread_endpoint_pages_replies(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = await s.register_user(), await s.register_user()
    room = await new_room(s, ana)
    await room.join(ben)
    root = await room.seed(ana, text="root")
    other_root = await room.seed(ben, text="another thread")
    replies = []
    for i in range(5):
        replies.append(await room.seed(ben if i % 2 else ana, root=root, text=f"r{i}"))
        await room.seed(ben, root=other_root, text="elsewhere")
    r = await room.thread(ben, root, "limit=2")
    assert r.status_code == 200, r.text
    body = r.json()
    as_message(body["root"])
    assert body["root"]["id"] == root.id
    assert body["root"]["thread"]["reply_count"] == 5
    assert [m["id"] for m in body["replies"]] == [replies[0].id, replies[1].id]
    assert body["has_more"] is True
    for m in body["replies"]:
        as_message(m)
        assert m["thread_root_id"] == root.id
    r = await room.thread(ben, root, f"after_seq={replies[1].seq}&limit=2")
    assert [m["id"] for m in r.json()["replies"]] == [replies[2].id, replies[3].id]
    assert r.json()["has_more"] is True
    r = await room.thread(ben, root, f"after_seq={replies[3].seq}&limit=2")
    assert [m["id"] for m in r.json()["replies"]] == [replies[4].id]
    assert r.json()["has_more"] is False
    # Default page: every reply (limit 50).
    assert len((await room.thread(ana, root)).json()["replies"]) == 5
    # A deleted root still answers: a tombstone and its replies.
    await room.delete(root)
    body = (await room.thread(ana, root)).json()
    assert body["root"]["deleted"] is True
    assert body["root"]["text"] == ""
    assert len(body["replies"]) == 5
    # Not a thread root of this room: a reply, an unknown id, a root of another room.
    elsewhere = await new_room(s, ana)
    foreign = await elsewhere.seed(ana)
    for bad in (replies[0].id, str(uuid.uuid4()), foreign.id):
        problem(await room.thread(ana, bad), 404, "not_found")
    # A system entry (ben's join) is not a root either.
    system = next(m for m in (await room.history(ana))["messages"] if m["kind"] == "system")
    problem(await room.thread(ana, system["id"]), 404, "not_found")
    # Bad parameters are 422, never 500.
    for query in ("limit=0", "limit=201", "after_seq=-1", f"after_seq={2**63}"):
        assert (await room.thread(ana, other_root, query)).status_code == 422, query
    assert (await room.get(ana, "/threads/not-a-uuid")).status_code == 422


async def test_thread_endpoint_is_for_members(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, eve = await s.register_user(), await s.register_user()
    public = await new_room(s, ana)
    private = await new_room(s, ana, visibility="private")
    public_root = await public.seed(ana)
    private_root = await private.seed(ana)
    # A private room is unknown to others; a public one's content needs joining (as history).
    problem(await private.thread(eve, private_root), 404, "room_not_found")
    problem(await public.thread(eve, public_root), 403, "forbidden")
    problem(await public.get(eve, "/messages"), 403, "forbidden")
    r = await s.client.get(f"/v1/rooms/{public.id}/threads/{public_root.id}")
    assert r.status_code == 401


async def test_thread_reads_and_unread_replies(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben, cat = [await s.register_user() for _ in range(3)]
    room = await new_room(s, ana)
    await room.join(ben)
    await room.join(cat)
    root = await room.seed(ana, text="root")
    lonely = await room.seed(ana, text="no replies")
    first = await room.seed(ben, root=root)
    await room.seed(ben, root=root)
    mine = await room.seed(ana, root=root)  # the caller's own replies are never unread

    async def unread(user: uuid.UUID) -> int | None:
        value: int | None = (await room.entry(user, root))["thread"].get("unread_replies")
        return value

    assert await unread(ana) == 2  # the root's sender took part
    assert await unread(ben) == 1  # a replier: ana's reply (own replies never count)
    assert await unread(cat) is None  # never took part: no per-caller field
    assert "thread" not in await room.entry(ana, lonely)
    # The thread endpoint's root carries it too.
    assert (await room.thread(ana, root)).json()["root"]["thread"]["unread_replies"] == 2
    # Reading the room does not read threads.
    assert (await room.read(ana, mine.seq)).status_code == 204
    assert await unread(ana) == 2
    # A thread read moves the thread's position and announces it with thread_root_id.
    assert (await room.read(ana, first.seq, root)).status_code == 204
    assert await unread(ana) == 1
    await s.spy.wait_for(
        lambda spy: any(e.get("thread_root_id") for e in spy.of(f"room.{room.id}.read.v1"))
    )
    events = [e for e in s.spy.of(f"room.{room.id}.read.v1") if e.get("thread_root_id")]
    assert events == [
        {"room_id": room.id, "user_id": str(ana), "seq": first.seq, "thread_root_id": root.id}
    ]
    msgspec.convert(events[0], types.ReadV1)
    # Never back; clamped to the room's last seq.
    assert (await room.read(ana, root.seq, root)).status_code == 204
    assert await unread(ana) == 1
    assert (await room.read(ana, 10**9, root)).status_code == 204
    assert await unread(ana) == 0
    async with s.host.require_sessions()() as session:
        position = (
            await session.execute(
                sa.text(
                    "SELECT last_read_seq FROM thread_reads"
                    " WHERE user_id = :u AND thread_root_id = :r"
                ),
                {"u": ana, "r": uuid.UUID(root.id)},
            )
        ).scalar_one()
    assert position == mine.seq  # the room's last seq
    # Deleted replies by others are not unread.
    third = await room.seed(ben, root=root)
    assert await unread(ana) == 1
    await room.delete(third)
    assert await unread(ana) == 0
    # Not a thread of this room: 404; not a member: as every read endpoint.
    problem(await room.read(ana, 1, Entry(first.id, 0)), 404, "not_found")  # a reply
    problem(await room.read(ana, 1, Entry(str(uuid.uuid4()), 0)), 404, "not_found")
    problem(await room.read(await s.register_user(), 1, root), 403, "forbidden")
    r = await s.client.post(
        f"/v1/rooms/{room.id}/read",
        json={"seq": 1, "thread_root_id": "nope"},
        headers=s.auth(ana),
    )
    assert r.status_code == 422


async def test_thread_read_over_the_bus(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await new_room(s, ana)
    await room.join(ben)
    root = await room.seed(ana)
    replies = [await room.seed(ben, root=root) for _ in range(3)]
    key = names.read_routing_key(shard_of(room.id, SHARDS))
    for seq, thread in ((replies[1].seq, root.id), (replies[0].seq, root.id), (1, None)):
        command = types.RoomReadV1(
            room_id=room.id,
            user_id=str(ana),
            seq=seq,
            thread_root_id=thread if thread is not None else msgspec.UNSET,
        )
        result = await s.broker.publish(
            names.EXCHANGE_COMMANDS, OutgoingMessage.of(key, command), mandatory=True
        )
        result.raise_first()
    # A thread read of an entry that is not a root moves nothing (no event, no row).
    bogus = types.RoomReadV1(
        room_id=room.id, user_id=str(ana), seq=replies[2].seq, thread_root_id=replies[0].id
    )
    (
        await s.broker.publish(
            names.EXCHANGE_COMMANDS, OutgoingMessage.of(key, bogus), mandatory=True
        )
    ).raise_first()
    await s.spy.wait_for(lambda spy: len(spy.of(f"room.{room.id}.read.v1")) == 2)
    # The room read (seq 1) came after the thread reads on the same shard queue: the thread
    # read at replies[0] (backwards) moved nothing, nor did the bogus one.
    assert s.spy.of(f"room.{room.id}.read.v1") == [
        {"room_id": room.id, "user_id": str(ana), "seq": replies[1].seq, "thread_root_id": root.id},
        {"room_id": room.id, "user_id": str(ana), "seq": 1},
    ]
    assert (await room.entry(ana, root))["thread"]["unread_replies"] == 1


async def test_unread_count_ignores_replies(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = await s.register_user(), await s.register_user()
    room = await new_room(s, ana)
    await room.join(ben)
    root = await room.seed(ana)
    for _ in range(3):
        await room.seed(ben, root=root)
    assert (await room.counts(ana))[0] == 0
    await room.seed(ben)
    assert (await room.counts(ana))[0] == 1


async def test_mention_count(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben, cat = [await s.register_user() for _ in range(3)]
    room = await new_room(s, ana)
    await room.join(ben)
    await room.join(cat)
    assert await room.counts(ana) == (0, 0)
    root = await room.seed(ana, text="root")
    await room.read(ana, root.seq)
    by_name = await room.seed(ben, mention=[ana])
    await room.seed(ben, room=True)  # @room
    await room.seed(ben, mention=[ana], room=True)  # both: counted once
    await room.seed(ana, room=True)  # ana's own @room: not hers to be notified of
    await room.seed(cat, mention=[ben])  # someone else
    in_thread = await room.seed(cat, root=root, mention=[ana])
    await room.seed(cat, root=root, room=True)  # @room in a thread
    # An edit entry carries the mentions it gives its target: not a mention of its own.
    await room.seed_edit(ben, root, room=True)
    last = await room.seed(ben)
    assert await room.counts(ana) == (5, 5)
    # ben: cat's @ben, ana's @room and cat's @room reply (his own @room entries do not count).
    assert (await room.counts(ben))[1] == 3
    # A deleted entry is no longer a mention.
    await room.delete(by_name)
    assert await room.counts(ana) == (4, 4)
    # Reading the room clears the top-level ones; replies wait for the thread.
    await room.read(ana, last.seq)
    assert await room.counts(ana) == (0, 2)
    await room.read(ana, in_thread.seq, root)
    assert await room.counts(ana) == (0, 1)
    await room.read(ana, last.seq, root)
    assert await room.counts(ana) == (0, 0)
    # A non-member's card of a public room: no mentions.
    eve = await s.register_user()
    card = await room.card(eve)
    assert card["mention_count"] == 0
    public = await s.client.get("/v1/rooms/public?limit=100", headers=s.auth(eve))
    assert all(as_room(x)["mention_count"] == 0 for x in public.json()["rooms"])


async def test_mention_count_is_capped_at_1000(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = await s.register_user(), await s.register_user()
    room = await new_room(s, ana)
    await room.join(ben)
    async with s.host.require_sessions()() as session, session.begin():
        # Faster than 1 001 sends: the rows the send path writes for @room entries.
        await session.execute(
            sa.text(
                "INSERT INTO messages (id, room_id, seq, kind, sender_id, text, client_msg_id,"
                " created_at, mention_room, mention_user_ids) SELECT gen_random_uuid(), :room,"
                " g + 1, 'text', :ben, '@room', gen_random_uuid(), now(), true, '{}'"
                " FROM generate_series(1, 1001) AS g"
            ),
            {"room": room.uuid, "ben": ben},
        )
        await session.execute(
            sa.text("UPDATE rooms SET last_seq = 1002 WHERE id = :room"), {"room": room.uuid}
        )
    assert await room.counts(ana) == (1000, 1000)


async def test_notify_levels(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = await s.register_user(), await s.register_user()
    room = await new_room(s, ana)
    r = await s.client.post("/v1/dms", json={"user_id": str(ben)}, headers=s.auth(ana))
    assert r.status_code in (200, 201), r.text
    direct = Room(s, r.json()["room"]["id"])
    # Defaults by kind.
    assert (await room.card(ana))["notify"] == "mentions"
    assert (await direct.listed(ana))["notify"] == "all"
    assert (await direct.card(ben))["notify"] == "all"
    r = await s.client.put(
        f"/v1/rooms/{room.id}/notify", json={"notify": "all"}, headers=s.auth(ana)
    )
    assert r.status_code == 204, r.text
    assert (await room.card(ana))["notify"] == "all"
    assert (await room.listed(ana))["notify"] == "all"
    # The user's sessions learn it: room.updated.v1 to user.<id>, the room as they list it.
    key = f"user.{ana}.room.updated.v1"
    await s.spy.wait_for(lambda spy: bool(spy.of(key)))
    (event,) = s.spy.of(key)
    decoded = msgspec.convert(event, types.RoomUpdatedV1)
    assert decoded.user_id == str(ana)
    assert event["room"] == await room.listed(ana)
    assert [k for k, kind, _ in s.spy.events if k == key] == [key]
    assert {kind for k, kind, _ in s.spy.events if k == key} == {names.ROOM_UPDATED_V1}
    r = await s.client.put(
        f"/v1/rooms/{direct.id}/notify", json={"notify": "none"}, headers=s.auth(ben)
    )
    assert r.status_code == 204
    assert (await direct.card(ben))["notify"] == "none"
    assert (await direct.card(ana))["notify"] == "all"  # one member's setting
    # Bad values: 422; not a member: as every member endpoint; private rooms are unknown.
    for bad in ({"notify": "loud"}, {"notify": None}, {}, {"level": "all"}):
        r = await s.client.put(f"/v1/rooms/{room.id}/notify", json=bad, headers=s.auth(ana))
        assert r.status_code == 422, bad
    r = await s.client.put(
        f"/v1/rooms/{room.id}/notify", json={"notify": "all"}, headers=s.auth(ben)
    )
    problem(r, 403, "forbidden")
    private = await new_room(s, ana, visibility="private")
    r = await s.client.put(
        f"/v1/rooms/{private.id}/notify", json={"notify": "all"}, headers=s.auth(ben)
    )
    problem(r, 404, "room_not_found")
    r = await s.client.put(
        f"/v1/rooms/{uuid.uuid4()}/notify", json={"notify": "all"}, headers=s.auth(ben)
    )
    problem(r, 404, "room_not_found")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def features_off(ms_shared_stack: Any) -> AsyncIterator[Any]:
    """A REST-only replica on the same database with every feature off (`CHAT_FEATURES=`)."""
    s = ms_shared_stack
    async with s.rest_replica("") as client:
        yield client


async def test_switched_off_features_are_refused(ms_shared_stack: Any, features_off: Any) -> None:
    s = ms_shared_stack
    ana = await s.register_user()
    room = await new_room(s, ana)
    root = await room.seed(ana)
    r = await features_off.put(
        f"/v1/rooms/{room.id}/notify", json={"notify": "all"}, headers=s.auth(ana)
    )
    problem(r, 403, "feature_disabled")
    r = await features_off.get(f"/v1/rooms/{room.id}/threads/{root.id}", headers=s.auth(ana))
    problem(r, 403, "feature_disabled")
    r = await features_off.post(
        f"/v1/rooms/{room.id}/read",
        json={"seq": 1, "thread_root_id": root.id},
        headers=s.auth(ana),
    )
    problem(r, 403, "feature_disabled")
    # The room read stays v1.
    r = await features_off.post(f"/v1/rooms/{room.id}/read", json={"seq": 1}, headers=s.auth(ana))
    assert r.status_code == 204


async def test_replies_and_mentions_sent_over_rest(ms_shared_stack: Any) -> None:
    """The read side over what the real send path writes: a reply by REST, a mention by name
    and `@room`, then the thread, `unread_replies`, the counts and the reads that clear them."""
    s = ms_shared_stack
    ana = await s.register_user(f"ana{uuid.uuid4().hex[:6]}")
    ben = await s.register_user(f"ben{uuid.uuid4().hex[:6]}")
    async with s.host.require_sessions()() as session:
        rows = await session.execute(
            sa.text("SELECT id, username FROM users WHERE id = ANY(:ids)"), {"ids": [ana, ben]}
        )
        names_by_id = {row.id: row.username for row in rows}
    room = await new_room(s, ana)
    await room.join(ben)

    async def send(user: uuid.UUID, text: str, root: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"client_msg_id": str(uuid.uuid4()), "text": text}
        if root is not None:
            body["thread_root_id"] = root
        r = await s.client.post(f"/v1/rooms/{room.id}/messages", json=body, headers=s.auth(user))
        assert r.status_code == 201, r.text
        message: dict[str, Any] = as_message(r.json()["message"])
        return message

    root = await send(ana, "a question")
    reply = await send(ben, f"an xylophone answer for @{names_by_id[ana]}", root["id"])
    assert reply["thread_root_id"] == root["id"]
    # Replies stay searchable; the hit names its root (a client opens the thread).
    r = await s.client.get(f"/v1/search?q=xylophone&room_id={room.id}", headers=s.auth(ana))
    assert r.status_code == 200, r.text
    hits = [x["message"] for x in r.json()["results"]]
    assert [(m["id"], m["thread_root_id"]) for m in hits] == [(reply["id"], root["id"])]
    await send(ben, "@room heads up")
    assert await room.counts(ana) == (1, 2)
    entries = (await room.history(ana))["messages"]
    assert next(m for m in entries if m["id"] == root["id"])["thread"]["unread_replies"] == 1
    body = (await room.thread(ana, Entry(root["id"], root["seq"]))).json()
    assert [m["id"] for m in body["replies"]] == [reply["id"]]
    # The replier's own reply moved his thread position: nothing unread for him.
    assert (await room.thread(ben, Entry(root["id"], root["seq"]))).json()["root"]["thread"][
        "unread_replies"
    ] == 0
    assert (await room.read(ana, reply["seq"], Entry(root["id"], root["seq"]))).status_code == 204
    assert await room.counts(ana) == (1, 1)
    last = (await room.history(ana))["messages"][-1]["seq"]
    assert (await room.read(ana, last)).status_code == 204
    assert await room.counts(ana) == (0, 0)
