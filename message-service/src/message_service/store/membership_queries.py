"""Memberships, read positions (a room's and a thread's) and notify levels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.room_roles import WORKSPACE_ADMIN_ROLES, Standing
from message_service.store.tables import (
    memberships,
    messages,
    rooms,
    thread_reads,
    users,
    uuid_array,
)


async def is_member(session: AsyncSession, room_id: UUID, user_id: UUID) -> bool:
    stmt = sa.select(sa.literal(1)).where(
        memberships.c.room_id == room_id, memberships.c.user_id == user_id
    )
    return (await session.execute(stmt)).first() is not None


async def add_member(
    session: AsyncSession, room_id: UUID, user_id: UUID, now: datetime, role: str = "member"
) -> bool:
    """Add a membership (a channel's creator: `role` admin); True when it is new (False when
    the user already was a member)."""
    stmt = (
        pg.insert(memberships)
        .values(room_id=room_id, user_id=user_id, joined_at=now, last_read_seq=0, role=role)
        .on_conflict_do_nothing()
        .returning(memberships.c.user_id)
    )
    return (await session.execute(stmt)).first() is not None


async def remove_member(session: AsyncSession, room_id: UUID, user_id: UUID) -> bool:
    stmt = (
        sa.delete(memberships)
        .where(memberships.c.room_id == room_id, memberships.c.user_id == user_id)
        .returning(memberships.c.user_id)
    )
    return (await session.execute(stmt)).first() is not None


async def members(session: AsyncSession, room_id: UUID) -> list[tuple[UUID, datetime, int, str]]:
    """(user_id, joined_at, last_read_seq, room role) of every member, oldest first."""
    stmt = (
        sa.select(
            memberships.c.user_id,
            memberships.c.joined_at,
            memberships.c.last_read_seq,
            memberships.c.role,
        )
        .where(memberships.c.room_id == room_id)
        .order_by(memberships.c.joined_at, memberships.c.user_id)
    )
    return [(r.user_id, r.joined_at, r.last_read_seq, r.role) for r in await session.execute(stmt)]


async def room_ids_of_user(session: AsyncSession, user_id: UUID) -> list[UUID]:
    stmt = sa.select(memberships.c.room_id).where(memberships.c.user_id == user_id)
    return list((await session.execute(stmt)).scalars())


async def advance_read(session: AsyncSession, room_id: UUID, user_id: UUID, seq: int) -> int | None:
    """Move a read position forward to min(seq, last_seq); return it, or None if it did not move."""
    last_seq = sa.select(rooms.c.last_seq).where(rooms.c.id == room_id).scalar_subquery()
    target = sa.func.least(seq, last_seq)
    stmt = (
        sa.update(memberships)
        .where(
            memberships.c.room_id == room_id,
            memberships.c.user_id == user_id,
            memberships.c.last_read_seq < target,
        )
        .values(last_read_seq=target)
        .returning(memberships.c.last_read_seq)
    )
    value = (await session.execute(stmt)).scalar()
    return int(value) if value is not None else None


async def advance_thread_read(
    session: AsyncSession, room_id: UUID, user_id: UUID, root_id: UUID, seq: int
) -> int | None:
    """Move a member's read position in a thread forward to min(seq, the room's last_seq); return
    it, or None if it did not move or there is no such thread for this member (not a member, or
    `root_id` is not a top-level text entry of the room). One statement: an upsert whose source
    row exists only when the membership and the root do."""
    target = sa.func.least(seq, rooms.c.last_seq)
    source = (
        sa.select(
            sa.literal(user_id, pg.UUID(as_uuid=True)),
            messages.c.id,
            messages.c.room_id,
            target,
        )
        .select_from(
            messages.join(rooms, rooms.c.id == messages.c.room_id).join(
                memberships,
                sa.and_(
                    memberships.c.room_id == messages.c.room_id,
                    memberships.c.user_id == user_id,
                ),
            )
        )
        .where(
            messages.c.id == root_id,
            messages.c.room_id == room_id,
            messages.c.kind == sa.literal_column("'text'"),
            messages.c.thread_root_id.is_(None),
            target > 0,
        )
    )
    insert = pg.insert(thread_reads).from_select(
        ["user_id", "thread_root_id", "room_id", "last_read_seq"], source
    )
    stmt = insert.on_conflict_do_update(
        index_elements=[thread_reads.c.user_id, thread_reads.c.thread_root_id],
        set_={"last_read_seq": insert.excluded.last_read_seq},
        where=thread_reads.c.last_read_seq < insert.excluded.last_read_seq,
    ).returning(thread_reads.c.last_read_seq)
    value = (await session.execute(stmt)).scalar()
    return int(value) if value is not None else None


async def set_notify(session: AsyncSession, room_id: UUID, user_id: UUID, level: str) -> bool:
    """Store a member's notify level; False when the user is not a member."""
    return await _update_membership(session, room_id, user_id, notify=level)


async def _update_membership(
    session: AsyncSession, room_id: UUID, user_id: UUID, **values: str
) -> bool:
    stmt = (
        sa.update(memberships)
        .where(memberships.c.room_id == room_id, memberships.c.user_id == user_id)
        .values(**values)
        .returning(memberships.c.user_id)
    )
    return (await session.execute(stmt)).first() is not None


async def standings(
    session: AsyncSession, room_id: UUID, user_ids: Sequence[UUID]
) -> dict[UUID, Standing]:
    """Each of these users' membership role in the room (None: not a member) and workspace
    role (the users projection), in one statement."""
    wanted = sorted(set(user_ids))
    asked = sa.func.unnest(uuid_array("asked", wanted)).table_valued("id").render_derived()
    stmt = sa.select(
        asked.c.id, memberships.c.role, users.c.role.label("workspace_role")
    ).select_from(
        asked.outerjoin(
            memberships,
            sa.and_(memberships.c.room_id == room_id, memberships.c.user_id == asked.c.id),
        ).outerjoin(users, users.c.id == asked.c.id)
    )
    return {row.id: Standing(row.role, row.workspace_role) for row in await session.execute(stmt)}


async def room_admins(session: AsyncSession, room_id: UUID) -> set[UUID]:
    """A channel's room admins (api-v1.1 C): members with the room role `admin` and members who
    are workspace owners or admins."""
    stmt = (
        sa.select(memberships.c.user_id)
        .select_from(memberships.outerjoin(users, users.c.id == memberships.c.user_id))
        .where(
            memberships.c.room_id == room_id,
            sa.or_(
                memberships.c.role == "admin",
                users.c.role.in_(sorted(WORKSPACE_ADMIN_ROLES)),
            ),
        )
    )
    return set((await session.execute(stmt)).scalars())


async def set_role(session: AsyncSession, room_id: UUID, user_id: UUID, role: str) -> bool:
    """Set a member's room role; False when the user is not a member."""
    return await _update_membership(session, room_id, user_id, role=role)


async def member_ids(session: AsyncSession, room_id: UUID) -> list[UUID]:
    stmt = sa.select(memberships.c.user_id).where(memberships.c.room_id == room_id)
    return list((await session.execute(stmt)).scalars())
