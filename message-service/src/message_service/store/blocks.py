"""The `blocks` projection of `auth.block.changed.v1` (api-v1.1 C): one row per (blocker,
blocked) pair at the highest `version` seen. The send path (message_writes.lock_rooms) and
`mention_count` (room_queries) read it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.store.tables import blocks, messages


async def apply_change(
    session: AsyncSession, blocker_id: UUID, blocked_id: UUID, blocked: bool, version: int
) -> bool:
    """Take the change when its version is above the stored one (or the pair is new); else
    leave the row as it is, so events may arrive in any order and any number of times. True
    when taken. The upsert locks the row: concurrent changes of one pair apply one after the
    other and only the highest version stays."""
    stmt = pg.insert(blocks).values(
        blocker_id=blocker_id, blocked_id=blocked_id, blocked=blocked, version=version
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[blocks.c.blocker_id, blocks.c.blocked_id],
        set_={"blocked": stmt.excluded.blocked, "version": stmt.excluded.version},
        where=blocks.c.version < stmt.excluded.version,
    ).returning(blocks.c.version)
    return (await session.execute(upsert)).first() is not None


def sender_not_blocked(user_id: Any, message_id: Any) -> sa.ColumnElement[bool]:
    """api-v1.1 B: the entry `message_id` is not from a sender `user_id` blocks (`user_id` a
    value or an outer column). Whom the user blocks is one primary-key range probe, computed
    once (an InitPlan); a user who blocks nobody, the common case, never reads the entries
    themselves, so mention_count keeps its index scans. Only a user with blocks looks up each
    mentioning entry's sender, by primary key: a scalar subquery, which the planner cannot turn
    into a hash of every entry of the blocked senders."""
    blocked_ids = (
        sa.select(sa.func.array_agg(blocks.c.blocked_id))
        .where(blocks.c.blocker_id == user_id, blocks.c.blocked)
        .correlate_except(blocks)
        .scalar_subquery()
    )
    entry = messages.alias("mention_entry")
    sender = (
        sa.select(entry.c.sender_id)
        .where(entry.c.id == message_id)
        .correlate_except(entry)
        .scalar_subquery()
    )
    # OR runs its arms in order: the lookup only when the user blocks someone.
    # (The cast makes ALL take the array, not the subquery's rows.)
    as_array = sa.cast(blocked_ids, pg.ARRAY(pg.UUID(as_uuid=True)))
    return sa.or_(blocked_ids.is_(None), sender != sa.all_(as_array))
