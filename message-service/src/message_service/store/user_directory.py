"""The local user directory (fed by `auth.user.registered.v1`; used by DMs and invites)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.store.tables import users


async def upsert_user(
    session: AsyncSession, user_id: UUID, username: str, display_name: str, created_at: datetime
) -> None:
    stmt = pg.insert(users).values(
        id=user_id, username=username, display_name=display_name, created_at=created_at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[users.c.id],
        set_={"username": stmt.excluded.username, "display_name": stmt.excluded.display_name},
    )
    await session.execute(stmt)


async def get_usernames(session: AsyncSession, ids: Iterable[UUID]) -> dict[UUID, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    stmt = sa.select(users.c.id, users.c.username).where(users.c.id.in_(wanted))
    return {r.id: r.username for r in await session.execute(stmt)}
