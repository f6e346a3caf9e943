"""The write path of api-v1.1 A entries on a real database and broker: a mixed batch in one
transaction, the bus events of entries and no-ops, a delete that leaves its text in no table
(outbox rows included), and the system entries of channel joins and leaves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
import pytest
import sqlalchemy as sa
from chat_contracts import names, types
from chat_runtime.features import NONE
from chat_runtime.messaging import OutgoingMessage, shard_of
from message_service.domain.sending import (
    Created,
    Duplicate,
    Noop,
    Outcome,
    Rejected,
    SendCommand,
)
from message_service.services import rooms as room_service
from message_service.services import sending
from message_service.store import UnitOfWork, tables

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


SHARDS = 2  # conftest.SHARDS: the test stacks' send shards


def code(outcome: Outcome) -> str:
    return outcome.code if isinstance(outcome, Rejected) else type(outcome).__name__


async def send_batch(s: Any, commands: Sequence[SendCommand]) -> list[Outcome]:
    """One batch through the consumer's path (send_messages in one transaction)."""
    async with UnitOfWork(s.host.require_sessions(), s.host.relay) as session:
        return await sending.send_messages(session, commands)


def cmd(room: str, sender: UUID, kind: str = "text", text: str = "", **fields: Any) -> SendCommand:
    return SendCommand(
        client_msg_id=fields.pop("client_msg_id", None) or uuid.uuid4(),
        room_id=UUID(room),
        sender_id=sender,
        text=text,
        kind=kind,
        **fields,
    )


async def publish(
    s: Any,
    room: str,
    sender: UUID,
    *,
    cmid: str | None = None,
    **fields: Any,
) -> str:
    """A `message.send.v1` command as a gateway publishes it (api-v1.1 fields included)."""
    cmid = cmid or str(uuid.uuid4())
    command = types.MessageSendV1(
        client_msg_id=cmid,
        room_id=room,
        sender_id=str(sender),
        session_id=str(uuid.uuid4()),
        gateway_id=str(uuid.uuid4()),
        connection_id=str(uuid.uuid4()),
        **fields,
    )
    key = names.send_routing_key(shard_of(room, SHARDS))
    result = await s.broker.publish(
        names.EXCHANGE_COMMANDS, OutgoingMessage.of(key, command), mandatory=True
    )
    result.raise_first()
    return cmid


async def rows(s: Any, statement: Any) -> list[Any]:
    async with s.host.require_sessions()() as session:
        return list(await session.execute(statement))


async def entries(s: Any, room: str) -> list[Any]:
    m = tables.messages
    return await rows(s, sa.select(m).where(m.c.room_id == UUID(room)).order_by(m.c.seq))


async def channel_with(s: Any, owner: UUID, *members: UUID) -> str:
    room: str = await s.room(owner)
    for user in members:
        r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(user))
        assert r.status_code == 200, r.text
    return room


def created(s: Any, room: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        e["message"] for e in s.spy.of(f"room.{room}.message.created.v1", "message.created.v1")
    ]
    return found


async def test_a_mixed_batch_commits_with_gapless_seq_and_every_effect(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await channel_with(s, ana, ben)  # seq 1: ben's join
    first = await send_batch(s, [cmd(room, ana, text="Deploy at 4"), cmd(room, ana, text="oops")])
    assert [code(o) for o in first] == ["Created", "Created"]
    deploy, oops = (o.message for o in first if isinstance(o, Created))

    noop_again = cmd(room, ben, "reaction", target_id=deploy.id, emoji="👍")
    batch = [
        cmd(room, ben, text="morning"),
        cmd(room, ana, "edit", "Deploy at 5", target_id=deploy.id),
        cmd(room, ben, "reaction", target_id=deploy.id, emoji="👍"),
        cmd(room, ana, "reaction", target_id=deploy.id, emoji="🎉", added=True),
        noop_again,
        cmd(room, ana, "delete", target_id=oops.id),
        cmd(room, ben, "reaction", target_id=oops.id, emoji="👍"),  # deleted by now
        cmd(room, ben, "edit", "mine now", target_id=deploy.id),  # not his
        cmd(room, ben, "reaction", target_id=deploy.id, emoji="nope"),
        noop_again,  # its repeat, in the same batch
    ]
    outcomes = await send_batch(s, batch)
    assert [code(o) for o in outcomes] == [
        "Created", "Created", "Created", "Created", "Noop",
        "Created", "not_found", "forbidden", "bad_request", "Duplicate",
    ]  # fmt: skip
    stored = await entries(s, room)
    assert [r.seq for r in stored] == list(range(1, 9))
    assert [r.kind for r in stored] == [
        "system", "text", "text", "text", "edit", "reaction", "reaction", "delete",
    ]  # fmt: skip
    target = next(r for r in stored if r.id == deploy.id)
    assert (target.text, target.deleted, target.state_seq) == ("Deploy at 5", False, 7)
    assert target.edited_at is not None
    gone = next(r for r in stored if r.id == oops.id)
    assert (gone.text, gone.deleted, gone.state_seq) == ("", True, 8)
    r = tables.reactions
    marks = await rows(s, sa.select(r.c.message_id, r.c.emoji, r.c.user_id, r.c.seq))
    assert {(m.emoji, m.user_id, m.seq) for m in marks if m.message_id == deploy.id} == {
        ("👍", ben, 6),
        ("🎉", ana, 7),
    }
    n = tables.noop_sends
    (receipt,) = await rows(s, sa.select(n).where(n.c.sender_id == ben))
    assert (receipt.client_msg_id, receipt.target_id) == (noop_again.client_msg_id, deploy.id)
    # Only text entries moved the room and their sender's read position (api-v1.1 B).
    rm, mb = tables.rooms, tables.memberships
    (card,) = await rows(s, sa.select(rm.c.last_seq).where(rm.c.id == UUID(room)))
    assert card.last_seq == 8
    reads = dict(
        (row.user_id, row.last_read_seq)
        for row in await rows(
            s, sa.select(mb.c.user_id, mb.c.last_read_seq).where(mb.c.room_id == UUID(room))
        )
    )
    assert reads == {ana: 3, ben: 4}
    # The noop's answer is the target as the batch left it.
    noop = outcomes[4]
    assert isinstance(noop, Noop)
    assert (noop.message.text, noop.message.state_seq) == ("Deploy at 5", 7)
    assert [(x.emoji, x.count) for x in noop.message.reactions] == [("👍", 1), ("🎉", 1)]


async def test_entries_over_the_bus_ack_their_sender_and_noops_are_recorded(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await channel_with(s, ana, ben)
    await publish(s, room, ana, text="Deploy at 4")
    await s.spy.wait_for(lambda spy: any(m["kind"] == "text" for m in created(s, room)))
    target = next(m for m in created(s, room) if m["kind"] == "text")
    assert (target["edited_at"], target["deleted"], target["reactions"]) == (None, False, [])
    assert target["state_seq"] == target["seq"]

    react = await publish(s, room, ben, kind="reaction", target_id=target["id"], emoji="👍")
    await s.spy.wait_for(lambda spy: any(m["kind"] == "reaction" for m in created(s, room)))
    entry = next(m for m in created(s, room) if m["kind"] == "reaction")
    # The gateway acks on the entry's created event: it names the entry's sender.
    assert (entry["client_msg_id"], entry["sender_id"]) == (react, str(ben))
    assert (entry["target_id"], entry["emoji"], entry["added"]) == (target["id"], "👍", True)
    assert "reactions" not in entry  # a change entry never embeds its target

    noop = await publish(s, room, ben, kind="reaction", target_id=target["id"], emoji="👍")
    await publish(s, room, ben, cmid=noop, kind="reaction", target_id=target["id"], emoji="👍")
    reused = await publish(
        s, room, ben, cmid=noop, kind="reaction", target_id=target["id"], emoji="🎉"
    )
    key = f"user.{ben}.message.accepted.v1"
    await s.spy.wait_for(lambda spy: len(spy.of(key)) == 2)
    await s.spy.wait_for(lambda spy: spy.of(f"user.{ben}.message.rejected.v1"))
    for accepted in s.spy.of(key):
        assert (accepted["client_msg_id"], accepted["sender_id"]) == (noop, str(ben))
        assert accepted["noop"] is True
        current = accepted["message"]
        assert (current["id"], current["state_seq"]) == (target["id"], entry["seq"])
        assert current["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": [str(ben)]}]
    (refused,) = s.spy.of(f"user.{ben}.message.rejected.v1")
    assert (refused["client_msg_id"], refused["code"]) == (reused, "client_msg_id_reused")
    # No entry, no seq for the no-op.
    assert [r.seq for r in await entries(s, room)] == [1, 2, 3]
    # Contract-valid events (the spy stored what went out).
    for body in s.spy.of(key):
        msgspec.convert(body, types.MessageAcceptedV1)


async def test_a_delete_erases_the_text_from_every_table(ms_bus: Any) -> None:
    """The target's text, its edits' texts and every outbox row carrying them (published ones,
    and a repeat's `accepted`): after the delete no table holds the words."""
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await channel_with(s, ana, ben)
    original = cmd(room, ana, text="the launch code is 0000")
    (sent,) = await send_batch(s, [original])
    assert isinstance(sent, Created)
    target = sent.message.id
    await send_batch(s, [cmd(room, ana, "edit", "the launch code is 1111", target_id=target)])
    await send_batch(
        s,
        [
            cmd(room, ben, "reaction", target_id=target, emoji="😮"),
            cmd(room, ana, "edit", "the launch code is 2222", target_id=target),
            original,  # a repeat: `accepted` and `created` again, with the current text
        ],
    )
    await s.spy.wait_for(lambda spy: len(spy.of(f"user.{ana}.message.accepted.v1")) == 1)

    async def where_the_words_are() -> list[str]:
        found = []
        for table, column in (
            (tables.messages, tables.messages.c.text),
            (tables.outbox, sa.cast(tables.outbox.c.body, sa.Text)),
        ):
            hits = await rows(s, sa.select(column).where(column.contains("launch code")))
            found += [table.name] * len(hits)
        return found

    before = await where_the_words_are()
    assert before.count("messages") == 3  # the target and its two edits
    assert before.count("outbox") >= 5  # created x4, accepted x1

    (deleted,) = await send_batch(s, [cmd(room, ana, "delete", target_id=target)])
    assert isinstance(deleted, Created)
    assert await where_the_words_are() == []
    r = tables.reactions
    assert await rows(s, sa.select(r).where(r.c.message_id == target)) == []
    (row,) = await rows(s, sa.select(tables.messages).where(tables.messages.c.id == target))
    assert (row.text, row.deleted, row.state_seq) == ("", True, deleted.message.seq)
    # The retry of the erased send is still a duplicate (the hash, not the text, decides).
    (again,) = await send_batch(s, [original])
    assert isinstance(again, Duplicate)
    assert (again.message.id, again.message.text, again.message.deleted) == (target, "", True)


async def test_the_erasing_update_uses_the_outbox_index(ms_bus: Any) -> None:
    s = ms_bus
    async with s.host.require_sessions()() as session:
        await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = await session.execute(
            sa.text(
                "EXPLAIN SELECT id FROM outbox WHERE (body #>> '{message,id}') = ANY(:ids)"
                " AND type_name IN ('message.created.v1', 'message.accepted.v1')"
            ),
            {"ids": [str(uuid.uuid4())]},
        )
        assert "outbox_message_ref" in "\n".join(line for (line,) in plan)


async def test_channel_joins_and_leaves_are_system_entries(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await s.room(ana)  # the creator's own join makes no entry
    assert await entries(s, room) == []
    r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(ben))
    assert r.status_code == 200
    r = await s.client.delete(f"/v1/rooms/{room}/members/me", headers=s.auth(ben))
    assert r.status_code == 204
    joined, left = await entries(s, room)
    name = f"u{ben.hex[:8]}".title()
    assert (joined.seq, joined.kind, joined.event, joined.sender_id, joined.actor_id) == (
        1, "system", "member_joined", ben, ben,
    )  # fmt: skip
    assert joined.text == f"{name} joined the channel"
    assert (left.seq, left.event, left.text) == (2, "member_left", f"{name} left the channel")
    await s.spy.wait_for(lambda spy: len(created(s, room)) == 2)
    event = created(s, room)[0]
    assert (event["event"], event["actor_id"], event["subject_id"], event["value"]) == (
        "member_joined", str(ben), None, None,
    )  # fmt: skip
    msgspec.convert({"message": event}, types.MessageCreatedV1)
    # Direct rooms get none.
    dm = await s.client.post("/v1/dms", json={"user_id": str(ben)}, headers=s.auth(ana))
    assert dm.status_code in (200, 201), dm.text
    assert await entries(s, dm.json()["room"]["id"]) == []


async def test_concurrent_joins_of_one_channel_all_commit_with_gapless_entries(
    ms_bus: Any,
) -> None:
    """Each join locks the room before its membership row (whose foreign key check would
    otherwise hold a share lock two joiners each wait on: a deadlock, seen as a 500)."""
    s = ms_bus
    ana = await s.register_user()
    joiners = [await s.register_user() for _ in range(6)]
    room = await s.room(ana)
    answers = await asyncio.gather(
        *(
            s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(user))
            for user in joiners
        )
    )
    assert [r.status_code for r in answers] == [200] * len(joiners), [r.text for r in answers]
    stored = await entries(s, room)
    assert [e.seq for e in stored] == list(range(1, len(joiners) + 1))
    assert {e.sender_id for e in stored} == set(joiners)


async def test_no_system_entries_with_entries_switched_off(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await s.room(ana)
    async with UnitOfWork(s.host.require_sessions(), s.host.relay) as session:
        await room_service.add_member(session, UUID(room), ben, None, features=NONE)
    async with UnitOfWork(s.host.require_sessions(), s.host.relay) as session:
        await room_service.leave_room(session, UUID(room), ben, features=NONE)
    assert await entries(s, room) == []
