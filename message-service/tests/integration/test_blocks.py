"""Blocking in message-service (api-v1.1 C) against a real database and broker: the `blocks`
projection of auth.block.changed.v1 (wired in the events queue, highest version per pair, any
order, repeats) and `mention_count` leaving out senders the caller blocks (api-v1.1 B), without
reading the entries when the caller blocks nobody."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from chat_contracts import names, types
from chat_runtime.messaging import OutgoingMessage
from message_service.store import room_queries
from message_service.store.blocks import apply_change
from message_service.store.tables import blocks, rooms
from sqlalchemy.dialects import postgresql

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def publish_block(
    s: Any, blocker: uuid.UUID, blocked: uuid.UUID, state: bool, version: int
) -> None:
    """Publish auth.block.changed.v1 as auth-service's outbox relay would."""
    event = types.AuthBlockChangedV1(
        blocker_id=str(blocker), blocked_id=str(blocked), blocked=state, version=version
    )
    result = await s.broker.publish(
        names.EXCHANGE_EVENTS, OutgoingMessage.of(names.AUTH_BLOCK_CHANGED_V1, event)
    )
    result.raise_first()


async def stored(s: Any, blocker: uuid.UUID, blocked: uuid.UUID) -> tuple[bool, int] | None:
    async with s.host.require_sessions()() as session:
        row = (
            await session.execute(
                sa.select(blocks.c.blocked, blocks.c.version).where(
                    blocks.c.blocker_id == blocker, blocks.c.blocked_id == blocked
                )
            )
        ).first()
    return (row.blocked, row.version) if row else None


async def projected(s: Any, blocker: uuid.UUID, blocked: uuid.UUID, want: tuple[bool, int]) -> None:
    """Wait until the consumer has stored the pair at `want` (the projection has no event of
    its own to await; the table is polled briefly, as conftest.register_user does)."""
    for _ in range(250):
        if await stored(s, blocker, blocked) == want:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not projected: {await stored(s, blocker, blocked)} != {want}")


async def test_the_events_queue_projects_block_changes(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = uuid.uuid4(), uuid.uuid4()
    await publish_block(s, ana, ben, True, 1)
    await projected(s, ana, ben, (True, 1))
    await publish_block(s, ana, ben, False, 2)
    await publish_block(s, ana, ben, False, 2)  # a redelivered copy
    await projected(s, ana, ben, (False, 2))
    # The reverse pair is a row of its own.
    assert await stored(s, ben, ana) is None


async def test_the_highest_version_stays_whatever_the_order(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = uuid.uuid4(), uuid.uuid4()
    sessions = s.host.require_sessions()
    for blocked, version, taken in (
        (True, 3, True),
        (False, 2, False),  # older: ignored (an unblock that came late)
        (True, 3, False),  # the same again
        (True, 1, False),
        (False, 4, True),
        (True, 5, True),
    ):
        async with sessions() as session, session.begin():
            assert await apply_change(session, ana, ben, blocked, version) is taken
    assert await stored(s, ana, ben) == (True, 5)


async def send(s: Any, user: uuid.UUID, room: str, text: str, root: str | None = None) -> str:
    body: dict[str, Any] = {"client_msg_id": str(uuid.uuid4()), "text": text}
    if root is not None:
        body["thread_root_id"] = root
    r = await s.client.post(f"/v1/rooms/{room}/messages", json=body, headers=s.auth(user))
    assert r.status_code == 201, r.text
    message_id: str = r.json()["message"]["id"]
    return message_id


async def mention_count(s: Any, user: uuid.UUID, room: str) -> int:
    """The same from the room's card and from GET /v1/rooms."""
    card = await s.client.get(f"/v1/rooms/{room}", headers=s.auth(user))
    assert card.status_code == 200, card.text
    listed = await s.client.get("/v1/rooms", headers=s.auth(user))
    counts = {x["id"]: x["mention_count"] for x in listed.json()["rooms"]}
    assert counts[room] == card.json()["room"]["mention_count"]
    count: int = counts[room]
    return count


async def test_mention_count_leaves_out_senders_the_caller_blocks(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana_name = "ana" + uuid.uuid4().hex[:6]
    ana = await s.register_user(ana_name)
    ben, cat = await s.register_user(), await s.register_user()
    room = await s.room(cat, name="blocks")
    for user in (ana, ben):
        r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(user))
        assert r.status_code == 200, r.text
    root = await send(s, cat, room, "a topic")
    await send(s, ben, room, f"@{ana_name} hello")
    await send(s, ben, room, "@room everyone")
    await send(s, ben, room, f"@{ana_name} in a thread", root=root)
    await send(s, cat, room, f"@{ana_name} hi")
    assert await mention_count(s, ana, room) == 4
    # Ben blocking Ana changes nothing for her: only the caller's own blocks count.
    await publish_block(s, ben, ana, True, 1)
    await projected(s, ben, ana, (True, 1))
    assert await mention_count(s, ana, room) == 4
    await publish_block(s, ana, ben, True, 1)
    await projected(s, ana, ben, (True, 1))
    assert await mention_count(s, ana, room) == 1  # Cat's, by name, top-level and replies
    await publish_block(s, ana, ben, False, 2)
    await projected(s, ana, ben, (False, 2))
    assert await mention_count(s, ana, room) == 4


def _loops(plan: Any, alias: str) -> list[int]:
    """Actual loops of every plan node that reads the table alias `alias`."""
    found: list[int] = []
    if isinstance(plan, dict):
        if plan.get("Alias") == alias:
            found.append(int(plan["Actual Loops"]))
        for value in plan.values():
            found += _loops(value, alias)
    elif isinstance(plan, list):
        for value in plan:
            found += _loops(value, alias)
    return found


async def test_without_blocks_mention_count_reads_no_entry(ms_shared_stack: Any) -> None:
    """The guard of store/blocks.sender_not_blocked: a caller who blocks nobody never looks up
    the sender of a mentioning entry (mention_count keeps its index scans); one who blocks
    someone does."""
    s = ms_shared_stack
    ana_name = "ana" + uuid.uuid4().hex[:6]
    ana, ben = await s.register_user(ana_name), await s.register_user()
    room = await s.room(ben, name="plans")
    r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(ana))
    assert r.status_code == 200, r.text
    for _ in range(3):
        await send(s, ben, room, f"@{ana_name} look")

    async def entry_lookups() -> list[int]:
        stmt = room_queries._as_seen_by(ana).where(rooms.c.id == uuid.UUID(room))
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        sql = stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        async with s.host.require_sessions()() as session:
            text = f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"
            raw = (await session.execute(sa.text(text))).scalar_one()
        plan = json.loads(raw) if isinstance(raw, str) else raw
        return _loops(plan, "mention_entry")

    assert await mention_count(s, ana, room) == 3
    assert all(loops == 0 for loops in await entry_lookups())
    other = await s.register_user()
    await publish_block(s, ana, other, True, 1)
    await projected(s, ana, other, (True, 1))
    assert await mention_count(s, ana, room) == 3
    assert sum(await entry_lookups()) == 3
