"""The send and read command consumers, the membership responder and failure handling."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from chat_contracts import names, types
from chat_runtime.messaging import OutgoingMessage, shard_of
from chat_runtime.testing import temporary_database
from message_service.services import directory, sending
from message_service.store import UnitOfWork, tables

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SHARDS = 2


async def publish_send(
    s: Any,
    room: str,
    sender: uuid.UUID,
    text: str = "hi",
    cmid: str | None = None,
    *,
    kind: str | msgspec.UnsetType = msgspec.UNSET,
    extra_fields: dict[str, msgspec.Raw] | None = None,
) -> str:
    cmid = cmid or str(uuid.uuid4())
    command = types.MessageSendV1(
        client_msg_id=cmid,
        room_id=room,
        sender_id=str(sender),
        session_id=str(uuid.uuid4()),
        text=text,
        gateway_id=str(uuid.uuid4()),
        connection_id=str(uuid.uuid4()),
        kind=kind,
    )
    key = names.send_routing_key(shard_of(room, SHARDS))
    message = OutgoingMessage.of(key, command, extra_fields=extra_fields)
    result = await s.broker.publish(names.EXCHANGE_COMMANDS, message, mandatory=True)
    result.raise_first()
    return cmid


async def stored_messages(s: Any, rooms: list[str]) -> list[Any]:
    async with s.host.require_sessions()() as session:
        rows = await session.execute(
            sa.select(tables.messages)
            .where(tables.messages.c.room_id.in_([uuid.UUID(r) for r in rooms]))
            .order_by(tables.messages.c.room_id, tables.messages.c.seq)
        )
        return list(rows)


async def member_room(s: Any, owner: uuid.UUID, *others: uuid.UUID) -> str:
    room: str = await s.room(owner)
    for user in others:
        r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(user))
        assert r.status_code == 200
    return room


def accepted(s: Any, sender: uuid.UUID) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = s.spy.of(f"user.{sender}.message.accepted.v1")
    return result


def created_in(
    s: Any, room: str | None = None, *, kind: str | None = "text"
) -> list[dict[str, Any]]:
    """The `message.created.v1` events of `kind` entries (None: every entry, the system entries
    of joins included)."""
    prefix = f"room.{room}.message.created.v1" if room else "room."
    result: list[dict[str, Any]] = [
        e
        for e in s.spy.of(prefix, "message.created.v1")
        if kind is None or e["message"]["kind"] == kind
    ]
    return result


async def test_batch_across_rooms_is_gapless_in_arrival_order_and_emitted_once(
    ms_bus: Any,
) -> None:
    s = ms_bus
    alice, bob = await s.register_user(), await s.register_user()
    rooms = [await member_room(s, alice, bob) for _ in range(4)]
    sent: list[tuple[str, uuid.UUID, str]] = []
    for i in range(120):
        room, sender = rooms[i % len(rooms)], (alice, bob)[i % 3 == 0]
        cmid = await publish_send(s, room, sender, f"m{i}")
        sent.append((room, sender, cmid))
    await s.spy.wait_for(lambda spy: len(created_in(s)) >= len(sent), timeout=30)
    assert accepted(s, alice) == accepted(s, bob) == []  # first sends are acked on `created`
    rows = await stored_messages(s, rooms)  # bob's joins are system entries (seq 1)
    assert len([r for r in rows if r.kind == "text"]) == len(sent)
    for room in rooms:
        in_room = [r for r in rows if str(r.room_id) == room]
        assert [r.seq for r in in_room] == list(range(1, len(in_room) + 1))
        published_order = [cmid for (rid, _, cmid) in sent if rid == room]
        texts = [str(r.client_msg_id) for r in in_room if r.kind == "text"]
        assert texts == published_order
    created = [e["message"]["id"] for e in s.spy.of("room.", "message.created.v1")]
    assert Counter(created) == Counter(str(r.id) for r in rows)  # each exactly once
    # The room's card agrees with the rows and the sender's own messages count as read.
    card = (await s.client.get(f"/v1/rooms/{rooms[0]}", headers=s.auth(alice))).json()["room"]
    assert card["last_seq"] == len([r for r in rows if str(r.room_id) == rooms[0]])


async def until(condition: Any, timeout: float = 10.0) -> None:
    """Poll `await condition()` until true: the broker and PostgreSQL announce neither of the
    states these tests wait for."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


@asynccontextmanager
async def consumer_stalled(s: Any, sender: uuid.UUID) -> AsyncIterator[None]:
    """Stall the send consumer inside a batch (a send to a room whose row the test holds
    locked), so that what is published meanwhile waits in its hands; on exit it is released
    once nothing is left in the send queues: those sends then form the next batch."""
    blocker = await member_room(s, sender)

    async def nothing_ready() -> bool:
        for shard in range(SHARDS):
            queue = await s.broker.channel.declare_queue(names.send_queue(shard), passive=True)
            if queue.declaration_result.message_count:
                return False
        return True

    async with s.host.require_sessions()() as session, session.begin():
        await session.execute(
            sa.select(tables.rooms.c.id)
            .where(tables.rooms.c.id == uuid.UUID(blocker))
            .with_for_update()
        )
        await publish_send(s, blocker, sender, "first")

        async def consumer_waits_for_the_lock() -> bool:
            waiting = await session.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            )
            return bool(waiting.scalar_one())

        await until(consumer_waits_for_the_lock)
        yield
        await until(nothing_ready)  # every send is in the consumer's hands


async def test_one_transaction_commits_sends_from_several_shards(ms_bus: Any) -> None:
    """Group commit: sends waiting in different shard queues go into the same transaction.

    A room row held locked by the test stalls the consumer's first batch; the sends published
    meanwhile (to rooms of both shards) all wait in the consumer, and the next batch must commit
    them together: their rows share one xmin (the id of the transaction that inserted them)."""
    s = ms_bus
    alice = await s.register_user()
    by_shard: dict[int, list[str]] = {0: [], 1: []}
    while min(len(rooms) for rooms in by_shard.values()) < 2:
        room = await member_room(s, alice)
        by_shard[shard_of(room, SHARDS)].append(room)
    rooms = by_shard[0][:2] + by_shard[1][:2]
    async with consumer_stalled(s, alice):
        cmids = [await publish_send(s, rooms[i % 4], alice, f"g{i}") for i in range(20)]
    await s.spy.wait_for(lambda spy: len(created_in(s)) >= 21, timeout=30)

    async with s.host.require_sessions()() as session:
        inserted_by = await session.scalars(
            sa.select(sa.literal_column("xmin::text")).where(
                tables.messages.c.client_msg_id.in_([uuid.UUID(c) for c in cmids])
            )
        )
        transactions = set(inserted_by)
    assert len(transactions) == 1, transactions


async def test_duplicate_send_reemits_created_and_accepted_without_a_second_row(
    ms_bus: Any,
) -> None:
    s = ms_bus
    alice, stranger = await s.register_user(), await s.register_user()
    room, other = await member_room(s, alice), await member_room(s, alice)
    cmid = await publish_send(s, room, alice, "once")
    await s.spy.wait_for(lambda spy: len(created_in(s, room)) == 1)
    await publish_send(s, room, alice, "once", cmid)
    await s.spy.wait_for(lambda spy: len(accepted(s, alice)) == 1)
    await s.spy.wait_for(lambda spy: len(created_in(s, room)) == 2)
    (repeat,) = accepted(s, alice)
    assert repeat["client_msg_id"] == cmid
    created = created_in(s, room)
    assert [e["message"] for e in created] == [repeat["message"], repeat["message"]]
    assert len(await stored_messages(s, [room, other])) == 1

    await publish_send(s, other, alice, "again", cmid)
    await publish_send(s, room, stranger, "let me in")
    await s.spy.wait_for(lambda spy: len(spy.of("user.", "message.rejected.v1")) == 2)
    codes = {e["sender_id"]: e["code"] for e in s.spy.of("user.", "message.rejected.v1")}
    assert codes == {str(alice): "client_msg_id_reused", str(stranger): "not_a_member"}
    assert len(await stored_messages(s, [room, other])) == 1


async def test_additions_this_release_does_not_implement_are_rejected_unsupported(
    ms_bus: Any,
) -> None:
    """A newer gateway's command (api-v1.1 kind, or a field no contract here names) is refused
    to its sender with `unsupported` and acked, never stored as a plain text message."""
    s = ms_bus
    alice = await s.register_user()
    room = await member_room(s, alice)
    refused = {
        await publish_send(s, room, alice, "a member joined", kind="system"),  # services only
        await publish_send(s, room, alice, "a poll", kind="poll"),
        await publish_send(
            s, room, alice, "later", extra_fields={"scheduled_for": msgspec.Raw(b'"2027-01-01"')}
        ),
    }
    plain = await publish_send(s, room, alice, "plain")
    await s.spy.wait_for(lambda spy: len(spy.of(f"user.{alice}.message.rejected.v1")) == 3)
    await s.spy.wait_for(lambda spy: len(created_in(s, room)) == 1)
    rejected = s.spy.of(f"user.{alice}.message.rejected.v1")
    assert {(e["client_msg_id"], e["code"]) for e in rejected} == {
        (cmid, "unsupported") for cmid in refused
    }
    (row,) = await stored_messages(s, [room])
    assert (str(row.client_msg_id), row.seq) == (plain, 1)  # gapless: the refused took no seq


async def test_duplicates_inside_one_batch_make_one_message(ms_bus: Any) -> None:
    s = ms_bus
    alice = await s.register_user()
    room = await member_room(s, alice)
    cmid = str(uuid.uuid4())
    await asyncio.gather(*(publish_send(s, room, alice, "dup", cmid) for _ in range(5)))
    # The first is acked on `created`; each of the four repeats gets `accepted` (and re-emits
    # `created` when it landed in a later batch than the original).
    await s.spy.wait_for(lambda spy: len(accepted(s, alice)) == 4)
    acks = created_in(s, room) + accepted(s, alice)
    assert {e["message"]["id"] for e in acks} == {created_in(s, room)[0]["message"]["id"]}
    assert {e["message"]["seq"] for e in acks} == {1}
    assert len(await stored_messages(s, [room])) == 1


async def test_read_command_moves_position_and_announces_it(ms_bus: Any) -> None:
    s = ms_bus
    alice, bob = await s.register_user(), await s.register_user()
    room = await member_room(s, alice, bob)
    for _ in range(3):
        await publish_send(s, room, alice)
    await s.spy.wait_for(lambda spy: len(created_in(s, room)) == 3)
    key = names.read_routing_key(shard_of(room, SHARDS))
    for seq in (2, 1, 9):
        read = types.RoomReadV1(room_id=room, user_id=str(bob), seq=seq)
        result = await s.broker.publish(
            names.EXCHANGE_COMMANDS, OutgoingMessage.of(key, read), mandatory=True
        )
        result.raise_first()
    await s.spy.wait_for(lambda spy: len(spy.of(f"room.{room}.read.v1")) == 2)
    # bob's join is seq 1 (a system entry), alice's sends 2-4: 9 is clamped to 4.
    assert [e["seq"] for e in s.spy.of(f"room.{room}.read.v1")] == [2, 4]


async def test_membership_query(ms_bus: Any) -> None:
    s = ms_bus
    alice, bob = await s.register_user(), await s.register_user()
    rooms = {await member_room(s, alice, bob), await member_room(s, alice)}
    reply = await s.broker.request(
        names.MESSAGE_QUERY_QUEUE,
        types.MembershipQueryV1(user_id=str(alice)),
        reply_type=types.MembershipReplyV1,
    )
    assert reply.user_id == str(alice)
    assert set(reply.room_ids) == rooms
    reply = await s.broker.request(
        names.MESSAGE_QUERY_QUEUE,
        types.MembershipQueryV1(user_id=str(uuid.uuid4())),
        reply_type=types.MembershipReplyV1,
    )
    assert reply.room_ids == []


async def test_poison_command_is_dead_lettered_and_its_sender_told(
    ms_bus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poison shares a batch with good sends: they are committed and acked once (tried in
    the batch, then alone), only the poison is requeued, and on its last delivery it is
    dead-lettered to its `.dead` queue and its sender hears `internal`."""
    s = ms_bus
    alice = await s.register_user()
    room = await member_room(s, alice)
    poison = str(uuid.uuid4())
    real = sending.send_messages
    attempts = Counter[str]()

    async def flaky(session: Any, commands: Any, **kw: Any) -> Any:
        for cmd in commands:
            attempts[str(cmd.client_msg_id)] += 1
        if any(str(c.client_msg_id) == poison for c in commands):
            raise RuntimeError("simulated bug")
        return await real(session, commands, **kw)

    monkeypatch.setattr(sending, "send_messages", flaky)
    async with consumer_stalled(s, alice):
        good = [await publish_send(s, room, alice, "fine") for _ in range(2)]
        await publish_send(s, room, alice, "poison", poison)
        good.append(await publish_send(s, room, alice, "fine"))

    await s.spy.wait_for(lambda spy: bool(spy.dead), timeout=30)
    await s.spy.wait_for(lambda spy: len(spy.of(f"user.{alice}.message.rejected.v1")) >= 1)
    (rejected,) = s.spy.of(f"user.{alice}.message.rejected.v1")
    assert (rejected["client_msg_id"], rejected["code"]) == (poison, "internal")
    assert [body["client_msg_id"] for _, body in s.spy.dead] == [poison]
    assert attempts[poison] >= 6  # first delivery + 5 redeliveries (x-delivery-limit)
    await s.spy.wait_for(
        lambda spy: len({e["message"]["client_msg_id"] for e in created_in(s, room)}) == 3
    )
    rows = await stored_messages(s, [room])
    assert sorted(str(r.client_msg_id) for r in rows) == sorted(good)
    assert [r.seq for r in rows] == [1, 2, 3]
    # Not redelivered with the poison: its batch, then alone.
    assert [attempts[cmid] for cmid in good] == [2, 2, 2]


async def test_database_outage_is_held_and_retried_not_dead_lettered(
    ms_bus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = ms_bus
    alice = await s.register_user()
    room = await member_room(s, alice)
    failures = 0
    real_enter = UnitOfWork.__aenter__

    async def down_for_a_while(self: UnitOfWork) -> Any:
        nonlocal failures
        if failures < 4:
            failures += 1
            raise ConnectionRefusedError("simulated: database is down")
        return await real_enter(self)

    monkeypatch.setattr(UnitOfWork, "__aenter__", down_for_a_while)
    cmid = await publish_send(s, room, alice, "survives")
    await s.spy.wait_for(lambda spy: len(created_in(s, room)) == 1, timeout=30)
    assert failures == 4
    assert created_in(s, room)[0]["message"]["client_msg_id"] == cmid
    assert s.spy.dead == []
    assert not s.spy.of("user.", "message.rejected.v1")
    assert len(await stored_messages(s, [room])) == 1


async def test_two_instances_share_the_shards_and_keep_seq_gapless(
    ms_bus: Any, ms_stack_factory: Any
) -> None:
    """Replicas compete for the shards (single active consumer each); one stops mid-stream and
    the others take over its shards: seq stays gapless, per-room order is the arrival order."""
    s = ms_bus
    users = [await s.register_user() for _ in range(3)]
    rooms = [await member_room(s, users[0], *users[1:]) for _ in range(3)]
    sent: list[tuple[str, str]] = []
    async with AsyncExitStack() as replicas:
        second = await replicas.enter_async_context(ms_stack_factory(s.db, s.amqp))
        async with ms_stack_factory(s.db, s.amqp):
            for i in range(90):
                room = rooms[i % 3]
                sent.append((room, await publish_send(s, room, users[i % 2], f"a{i}")))
        # the third replica has stopped (its unacked deliveries went back to the queues)
        for i in range(90, 150):
            room = rooms[i % 3]
            sent.append((room, await publish_send(second, room, users[i % 3], f"b{i}")))
        await s.spy.wait_for(
            lambda spy: len({e["message"]["client_msg_id"] for e in created_in(s)}) >= len(sent),
            timeout=60,
        )
    rows = await stored_messages(s, rooms)  # with the joins' system entries
    assert len([r for r in rows if r.kind == "text"]) == len(sent)
    for room in rooms:
        in_room = [r for r in rows if str(r.room_id) == room]
        assert [r.seq for r in in_room] == list(range(1, len(in_room) + 1))
        texts = [str(r.client_msg_id) for r in in_room if r.kind == "text"]
        assert texts == [c for rid, c in sent if rid == room]
    assert s.spy.dead == []


async def test_events_left_in_the_outbox_are_published_at_start(
    ms_bus: Any, ms_stack_factory: Any
) -> None:
    """A process that committed but died before publishing: the next one publishes at start."""
    async with temporary_database("msg_outbox") as db:
        async with ms_stack_factory(db, ms_bus.amqp, connect_bus=False) as rest_only:
            alice = uuid.uuid4()
            async with rest_only.host.require_sessions()() as session, session.begin():
                user = types.User(
                    id=str(alice),
                    username="a" + alice.hex[:8],
                    display_name="A",
                    created_at="2026-11-26T15:04:05Z",
                )
                await directory.record_user(session, user)
            room = await rest_only.room(alice)
            r = await rest_only.client.post(
                f"/v1/rooms/{room}/messages",
                json={"client_msg_id": str(uuid.uuid4()), "text": "kept"},
                headers=rest_only.auth(alice),
            )
            assert r.status_code == 201
        assert not ms_bus.spy.of(f"room.{room}.")  # nothing was published
        async with ms_stack_factory(db, ms_bus.amqp):
            await ms_bus.spy.wait_for(lambda spy: spy.of(f"room.{room}.message.created.v1"))
        assert ms_bus.spy.of(f"room.{room}.message.created.v1")[0]["message"] == r.json()["message"]
