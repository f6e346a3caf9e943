"""The write path of threads and mentions (api-v1.1 A, B) on a real database and broker: replies
over REST and the bus, their roots' summaries, refusals, deleted replies and roots, the
`mentions` rows and columns on send, edit and delete, `@room` in a large room, and direct
entries to a deactivated user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import pytest
import sqlalchemy as sa
from chat_contracts import names, types
from chat_runtime.messaging import OutgoingMessage, shard_of
from message_service.domain.sending import SendCommand
from message_service.services import sending
from message_service.store import UnitOfWork, tables

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SHARDS = 2  # conftest.SHARDS


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["detail"]
    return body


async def post(s: Any, room: str, user: UUID, cmid: str | None = None, **fields: Any) -> Any:
    body = {"client_msg_id": cmid or str(uuid.uuid4()), **fields}
    return await s.client.post(f"/v1/rooms/{room}/messages", json=body, headers=s.auth(user))


async def sent(s: Any, room: str, user: UUID, **fields: Any) -> dict[str, Any]:
    r = await post(s, room, user, **fields)
    assert r.status_code == 201, r.text
    message: dict[str, Any] = r.json()["message"]
    return message


async def rows(s: Any, statement: Any) -> list[Any]:
    async with s.host.require_sessions()() as session:
        return list(await session.execute(statement))


async def execute(s: Any, statement: Any) -> None:
    async with s.host.require_sessions()() as session, session.begin():
        await session.execute(statement)


async def row_of(s: Any, message_id: str) -> Any:
    m = tables.messages
    (found,) = await rows(s, sa.select(m).where(m.c.id == UUID(message_id)))
    return found


async def mention_rows(s: Any, message_id: str) -> set[tuple[UUID, int, UUID | None]]:
    x = tables.mentions
    found = await rows(s, sa.select(x).where(x.c.message_id == UUID(message_id)))
    return {(r.user_id, r.seq, r.thread_root_id) for r in found}


async def channel(s: Any, owner: UUID, *members: UUID) -> str:
    room: str = await s.room(owner)
    for user in members:
        r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(user))
        assert r.status_code == 200, r.text
    return room


async def users(s: Any, *prefixes: str) -> list[UUID]:
    """Registered users named `<prefix><random>`; returns ids (names: `name_of`)."""
    return [await s.register_user(f"{p}{uuid.uuid4().hex[:6]}") for p in prefixes]


async def name_of(s: Any, user: UUID) -> str:
    u = tables.users
    (found,) = await rows(s, sa.select(u.c.username).where(u.c.id == user))
    name: str = found.username
    return name


async def test_replies_update_their_root_and_read_positions(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben, cat = await users(s, "ana", "ben", "cat")
    room = await channel(s, ana, ben, cat)
    root = await sent(s, room, ana, text="Deploy at 4?")
    r_room = tables.rooms
    (before,) = await rows(s, sa.select(r_room.c.last_activity_at).where(r_room.c.id == UUID(room)))

    first = await sent(s, room, ben, text="yes", thread_root_id=root["id"])
    assert first["thread_root_id"] == root["id"]
    assert "thread" not in first
    second = await sent(s, room, cat, text="ok", thread_root_id=root["id"])
    await sent(s, room, ben, text="great", thread_root_id=root["id"])

    stored = await row_of(s, root["id"])
    assert stored.reply_count == 3
    assert stored.participant_ids == [ben, cat]
    assert stored.state_seq == second["seq"] + 1
    assert stored.last_reply_at is not None

    # Replies move neither the room's activity time nor the repliers' room read positions;
    # each replier's position in the thread is their own newest reply.
    (after,) = await rows(s, sa.select(r_room.c.last_activity_at).where(r_room.c.id == UUID(room)))
    assert after == before
    m = tables.memberships
    reads = dict(
        (r.user_id, r.last_read_seq)
        for r in await rows(s, sa.select(m).where(m.c.room_id == UUID(room)))
    )
    assert reads[ben] < first["seq"]
    t = tables.thread_reads
    threads = {
        r.user_id: (r.last_read_seq, r.room_id)
        for r in await rows(s, sa.select(t).where(t.c.thread_root_id == UUID(root["id"])))
    }
    assert threads == {ben: (second["seq"] + 1, UUID(room)), cat: (second["seq"], UUID(room))}

    # History: the root carries its summary (state_seq the last reply's seq).
    r = await s.client.get(f"/v1/rooms/{room}/messages?after_seq=0", headers=s.auth(ana))
    assert r.status_code == 200, r.text
    listed = {m["id"]: m for m in r.json()["messages"]}
    summary = listed[root["id"]]["thread"]
    assert summary["reply_count"] == 3
    assert summary["participant_ids"] == [str(ben), str(cat)]
    assert listed[root["id"]]["state_seq"] == second["seq"] + 1
    assert listed[first["id"]]["thread_root_id"] == root["id"]
    for message in r.json()["messages"]:  # every shape is the contract's
        msgspec.convert(message, types.Message)

    # The bus carried the reply with its root.
    await s.spy.wait_for(
        lambda spy: any(
            e["message"]["id"] == first["id"]
            for e in spy.of(f"room.{room}.", names.MESSAGE_CREATED_V1)
        )
    )
    event = next(
        e["message"]
        for e in s.spy.of(f"room.{room}.", names.MESSAGE_CREATED_V1)
        if e["message"]["id"] == first["id"]
    )
    assert event["thread_root_id"] == root["id"]


async def test_reply_refusals(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await users(s, "ana", "ben")
    room = await channel(s, ana, ben)
    other = await channel(s, ben)
    root = await sent(s, room, ana, text="root")
    reply = await sent(s, room, ben, text="reply", thread_root_id=root["id"])
    elsewhere = await sent(s, other, ben, text="elsewhere")

    # Reply to a reply: 422 with the field.
    body = problem(
        await post(s, room, ana, text="nested", thread_root_id=reply["id"]),
        422,
        "validation_failed",
    )
    assert [e["field"] for e in body["errors"]] == ["thread_root_id"]
    # Absent, another room's, a change entry: 404.
    for root_id in (str(uuid.uuid4()), elsewhere["id"]):
        problem(await post(s, room, ana, text="x", thread_root_id=root_id), 404, "not_found")
    edit = await sent(s, room, ana, kind="edit", target_id=root["id"], text="root!")
    problem(await post(s, room, ana, text="x", thread_root_id=edit["id"]), 404, "not_found")
    # A change entry cannot name a thread.
    body = problem(
        await post(
            s, room, ana, kind="edit", target_id=root["id"], text="y", thread_root_id=root["id"]
        ),
        422,
        "validation_failed",
    )
    assert [e["field"] for e in body["errors"]] == ["thread_root_id"]
    # The same client_msg_id once top-level, once in a thread: a reuse.
    cmid = str(uuid.uuid4())
    assert (await post(s, room, ben, cmid, text="same")).status_code == 201
    problem(
        await post(s, room, ben, cmid, text="same", thread_root_id=root["id"]),
        409,
        "client_msg_id_reused",
    )
    # A repeat of a reply answers with the first.
    again = await post(s, room, ben, text="reply", thread_root_id=root["id"])
    assert again.status_code == 201
    repeat = await post(
        s,
        room,
        ben,
        again.json()["message"]["client_msg_id"],
        text="reply",
        thread_root_id=root["id"],
    )
    assert repeat.status_code == 200
    assert repeat.json()["message"]["id"] == again.json()["message"]["id"]


async def test_deleting_replies_and_roots(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await users(s, "ana", "ben")
    room = await channel(s, ana, ben)
    root = await sent(s, room, ana, text="root")
    one = await sent(s, room, ben, text="one", thread_root_id=root["id"])
    await sent(s, room, ben, text="two", thread_root_id=root["id"])

    gone = await sent(s, room, ben, kind="delete", target_id=one["id"])
    assert gone["thread_root_id"] == root["id"]  # names the thread of the reply it deletes
    stored = await row_of(s, root["id"])
    assert (stored.reply_count, stored.state_seq) == (1, gone["seq"])
    assert stored.participant_ids == [ben]
    assert stored.last_reply_at is not None

    # A deleted root keeps its replies and summary; no new replies.
    await sent(s, room, ana, kind="delete", target_id=root["id"])
    stored = await row_of(s, root["id"])
    assert (stored.deleted, stored.text, stored.reply_count) == (True, "", 1)
    problem(await post(s, room, ben, text="late", thread_root_id=root["id"]), 404, "not_found")
    m = tables.messages
    thread = await rows(
        s, sa.select(m.c.kind, m.c.text).where(m.c.thread_root_id == UUID(root["id"]))
    )
    assert sorted((r.kind, r.text) for r in thread) == [
        ("delete", ""),
        ("text", ""),
        ("text", "two"),
    ]


async def test_mentions_are_stored_recomputed_on_edit_and_emptied_on_delete(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben, cat, out = await users(s, "ana", "ben", "cat", "out")
    room = await channel(s, ana, ben, cat)
    bn, cn, on, an = [await name_of(s, u) for u in (ben, cat, out, ana)]

    text = f"@{bn.upper()}, look: `@{cn}` and @{on} and me @{an}."
    hello = await sent(s, room, ana, text=text)
    assert hello["mentions"] == {"user_ids": [str(ben), str(ana)], "room": False}
    assert hello["text"] == text  # stored verbatim
    stored = await row_of(s, hello["id"])
    assert (stored.mention_user_ids, stored.mention_room) == ([ben, ana], False)
    # The sender is never in the rows.
    assert await mention_rows(s, hello["id"]) == {(ben, hello["seq"], None)}

    edit = await sent(s, room, ana, kind="edit", target_id=hello["id"], text=f"@{cn} and @room")
    assert edit["mentions"] == {"user_ids": [str(cat)], "room": True}
    stored = await row_of(s, hello["id"])
    assert (stored.mention_user_ids, stored.mention_room) == ([cat], True)
    assert await mention_rows(s, hello["id"]) == {(cat, hello["seq"], None)}
    r = await s.client.get(f"/v1/rooms/{room}/messages?after_seq=0", headers=s.auth(ben))
    listed = {m["id"]: m for m in r.json()["messages"]}
    assert listed[hello["id"]]["mentions"] == {"user_ids": [str(cat)], "room": True}
    assert listed[edit["id"]]["mentions"] == {"user_ids": [str(cat)], "room": True}

    edit2 = await sent(s, room, ana, kind="edit", target_id=hello["id"], text="nobody")
    assert edit2["mentions"] == {"user_ids": [], "room": False}
    stored = await row_of(s, hello["id"])
    assert (stored.mention_user_ids, stored.mention_room) == (None, None)
    assert await mention_rows(s, hello["id"]) == set()

    # A reply's rows name its thread; a delete empties the entry's mentions.
    reply = await sent(s, room, ben, text=f"@{an} @{cn}", thread_root_id=hello["id"])
    assert await mention_rows(s, reply["id"]) == {
        (ana, reply["seq"], UUID(hello["id"])),
        (cat, reply["seq"], UUID(hello["id"])),
    }
    await sent(s, room, ben, kind="delete", target_id=reply["id"])
    stored = await row_of(s, reply["id"])
    assert (stored.mention_user_ids, stored.mention_room) == (None, None)
    assert await mention_rows(s, reply["id"]) == set()

    # Plain text: no mentions field, nothing stored.
    plain = await sent(s, room, ana, text="no names here")
    assert "mentions" not in plain
    assert await mention_rows(s, plain["id"]) == set()

    # Events carry the mentions.
    await s.spy.wait_for(
        lambda spy: any(
            e["message"]["id"] == edit["id"]
            for e in spy.of(f"room.{room}.", names.MESSAGE_CREATED_V1)
        )
    )
    events = {
        e["message"]["id"]: e["message"]
        for e in s.spy.of(f"room.{room}.", names.MESSAGE_CREATED_V1)
    }
    assert events[hello["id"]]["mentions"] == {"user_ids": [str(ben), str(ana)], "room": False}
    assert events[edit["id"]]["mentions"] == {"user_ids": [str(cat)], "room": True}


async def test_mentions_over_the_bus(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await users(s, "ana", "ben")
    room = await channel(s, ana, ben)
    root = await sent(s, room, ana, text="root")
    bn = await name_of(s, ben)
    cmid = str(uuid.uuid4())
    command = types.MessageSendV1(
        client_msg_id=cmid,
        room_id=room,
        sender_id=str(ana),
        session_id=str(uuid.uuid4()),
        gateway_id=str(uuid.uuid4()),
        connection_id=str(uuid.uuid4()),
        text=f"thanks @{bn}!",
        thread_root_id=root["id"],
    )
    key = names.send_routing_key(shard_of(room, SHARDS))
    result = await s.broker.publish(
        names.EXCHANGE_COMMANDS, OutgoingMessage.of(key, command), mandatory=True
    )
    result.raise_first()

    def found(spy: Any) -> bool:
        return any(
            e["message"]["client_msg_id"] == cmid
            for e in spy.of(f"room.{room}.", names.MESSAGE_CREATED_V1)
        )

    await s.spy.wait_for(found)
    message = next(
        e["message"]
        for e in s.spy.of(f"room.{room}.", names.MESSAGE_CREATED_V1)
        if e["message"]["client_msg_id"] == cmid
    )
    assert message["thread_root_id"] == root["id"]
    assert message["mentions"] == {"user_ids": [str(ben)], "room": False}
    assert await mention_rows(s, message["id"]) == {(ben, message["seq"], UUID(root["id"]))}


async def test_at_room_in_a_large_room_needs_a_room_admin(ms_bus: Any) -> None:
    s = ms_bus
    owner, member, boss = await users(s, "own", "mem", "bos")
    room = await channel(s, owner, member, boss)
    # 57 more members straight in the table (60 in all): only the count matters.
    now = datetime.now(UTC)
    async with s.host.require_sessions()() as session, session.begin():
        await session.execute(
            sa.insert(tables.memberships),
            [{"room_id": UUID(room), "user_id": uuid.uuid4(), "joined_at": now} for _ in range(57)],
        )
    by_member = await sent(s, room, member, text="@room lunch?")
    assert "mentions" not in by_member  # the text is kept, nobody is notified
    assert (await row_of(s, by_member["id"])).mention_room is None
    by_creator = await sent(s, room, owner, text="@room lunch!")
    assert by_creator["mentions"] == {"user_ids": [], "room": True}
    # A workspace admin is a room admin everywhere.
    await execute(s, sa.update(tables.users).where(tables.users.c.id == boss).values(role="admin"))
    by_admin = await sent(s, room, boss, text="@room meeting")
    assert by_admin["mentions"]["room"] is True

    small = await channel(s, member, owner)
    assert (await sent(s, small, owner, text="@room hi"))["mentions"]["room"] is True


async def test_direct_entries_to_a_deactivated_user_are_refused(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await users(s, "ana", "ben")
    r = await s.client.post("/v1/dms", json={"user_id": str(ben)}, headers=s.auth(ana))
    assert r.status_code in (200, 201), r.text
    dm = r.json()["room"]["id"]
    hello = await sent(s, dm, ana, text="hi")
    await execute(
        s, sa.update(tables.users).where(tables.users.c.id == ben).values(deactivated=True)
    )
    problem(await post(s, dm, ana, text="still there?"), 403, "deactivated")
    problem(
        await post(s, dm, ana, kind="reaction", target_id=hello["id"], emoji="👍"),
        403,
        "deactivated",
    )
    # Over the bus: rejected with the same code.
    cmid = str(uuid.uuid4())
    command = types.MessageSendV1(
        client_msg_id=cmid,
        room_id=dm,
        sender_id=str(ana),
        session_id=str(uuid.uuid4()),
        gateway_id=str(uuid.uuid4()),
        connection_id=str(uuid.uuid4()),
        text="hello?",
    )
    key = names.send_routing_key(shard_of(dm, SHARDS))
    (
        await s.broker.publish(names.EXCHANGE_COMMANDS, OutgoingMessage.of(key, command))
    ).raise_first()
    await s.spy.wait_for(
        lambda spy: any(
            e["client_msg_id"] == cmid for e in spy.of(f"user.{ana}.", names.MESSAGE_REJECTED_V1)
        )
    )
    rejected = next(
        e for e in s.spy.of(f"user.{ana}.", names.MESSAGE_REJECTED_V1) if e["client_msg_id"] == cmid
    )
    assert rejected["code"] == "deactivated"
    # Reactivated: sending works again; channels were never affected.
    await execute(
        s, sa.update(tables.users).where(tables.users.c.id == ben).values(deactivated=False)
    )
    assert (await post(s, dm, ana, text="welcome back")).status_code == 201


async def test_with_mentions_off_nothing_is_parsed(ms_bus: Any) -> None:
    """Feature `mentions` off (a REST-only replica with `CHAT_FEATURES=entries,threads`): a
    text with names is stored without mentions, an edit neither carries nor replaces them."""
    s = ms_bus
    ana, ben = await users(s, "ana", "ben")
    room = await channel(s, ana, ben)
    bn = await name_of(s, ben)
    mentioned = await sent(s, room, ana, text=f"@{bn} hi")
    async with s.rest_replica("entries,threads") as off:

        async def send_off(**fields: Any) -> dict[str, Any]:
            body = {"client_msg_id": str(uuid.uuid4()), **fields}
            r = await off.post(f"/v1/rooms/{room}/messages", json=body, headers=s.auth(ana))
            assert r.status_code == 201, r.text
            message: dict[str, Any] = r.json()["message"]
            return message

        plain = await send_off(text=f"@{bn} again")
        assert "mentions" not in plain
        assert await mention_rows(s, plain["id"]) == set()
        edit = await send_off(kind="edit", target_id=mentioned["id"], text="no names")
        assert "mentions" not in edit
        assert await mention_rows(s, mentioned["id"]) == {(ben, mentioned["seq"], None)}
        reply = await send_off(text=f"@{bn}", thread_root_id=mentioned["id"])
        assert reply["thread_root_id"] == mentioned["id"]
        assert "mentions" not in reply


async def test_plain_text_batches_run_the_statements_they_ran_before(ms_bus: Any) -> None:
    """The hot path (ADR 0009): with mentions on, a batch of text without `@` or thread runs
    the lock, the repeat lookup, one write and the outbox insert - no parsing, no directory.
    A batch with a mention adds the directory lookup and the `mentions` rows."""
    s = ms_bus
    ana, ben = await users(s, "ana", "ben")
    room = await channel(s, ana, ben)
    bn = await name_of(s, ben)
    engine = s.host.require_sessions().kw["bind"]
    # (connection, statement): background work (leases, the relay) shares the engine.
    statements: list[tuple[Any, str]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append((conn, statement))

    async def batch(*texts: str) -> list[str]:
        statements.clear()
        commands = [
            SendCommand(uuid.uuid4(), UUID(room), ana, text, mentions_on=True) for text in texts
        ]
        async with UnitOfWork(s.host.require_sessions(), s.host.relay) as session:
            mine = (await session.connection()).sync_connection
            outcomes = await sending.send_messages(session, commands)
        assert all(type(o).__name__ == "Created" for o in outcomes), outcomes
        return [x for conn, x in statements if conn is mine]

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        plain = await batch("one", "two", "three")
        assert len(plain) == 4, plain
        assert "mentions" not in " ".join(plain)
        named = await batch("one", f"hey @{bn}")
        assert len(named) == 6, named  # + usernames_to_ids, + mentions rows
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)
