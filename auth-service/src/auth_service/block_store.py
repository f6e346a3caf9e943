"""Blocks over PostgreSQL (SQLAlchemy 2 Core, bound parameters only), the `blocks` table of
store.py. Each change is one statement that decides and applies it, so concurrent requests of
one pair cannot both count a change: only a real change returns the pair's new `version`."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.store import blocks


class BlockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def block(
        self, blocker_id: uuid.UUID, blocked_id: uuid.UUID, now: datetime
    ) -> int | None:
        """Block; the pair's new version, or None when it was already blocked."""
        insert = pg.insert(blocks).values(
            blocker_id=blocker_id, blocked_id=blocked_id, blocked=True, version=1, changed_at=now
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[blocks.c.blocker_id, blocks.c.blocked_id],
            set_={"blocked": True, "version": blocks.c.version + 1, "changed_at": now},
            where=blocks.c.blocked.is_(False),
        ).returning(blocks.c.version)
        version: int | None = (await self.session.execute(stmt)).scalar()
        return version

    async def unblock(
        self, blocker_id: uuid.UUID, blocked_id: uuid.UUID, now: datetime
    ) -> int | None:
        """Unblock; the pair's new version, or None when it was not blocked. The row stays
        (`blocked` false) so the next change's version is higher still."""
        stmt = (
            sa.update(blocks)
            .where(
                blocks.c.blocker_id == blocker_id,
                blocks.c.blocked_id == blocked_id,
                blocks.c.blocked.is_(True),
            )
            .values(blocked=False, version=blocks.c.version + 1, changed_at=now)
            .returning(blocks.c.version)
        )
        version: int | None = (await self.session.execute(stmt)).scalar()
        return version

    async def blocked_by(self, blocker_id: uuid.UUID) -> list[uuid.UUID]:
        """Whom the user blocks now, the most recently blocked first."""
        stmt = (
            sa.select(blocks.c.blocked_id)
            .where(blocks.c.blocker_id == blocker_id, blocks.c.blocked.is_(True))
            .order_by(blocks.c.changed_at.desc(), blocks.c.blocked_id)
        )
        return list((await self.session.execute(stmt)).scalars())
