"""The local user directory: a projection of auth-service's users (api-v1.1 C).

Fed by `auth.user.registered.v1` (version 0: the registration only) and `auth.user.updated.v1`
(the whole user with its per-user `version`; the row keeps the highest version seen, so updates
may arrive in any order and any number of times). Used by DMs, invites and mentions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.store.tables import memberships, users


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: UUID
    username: str
    display_name: str
    # owner | admin | member; None: only known from auth.user.registered.v1 so far.
    role: str | None
    deactivated: bool
    deleted: bool


@dataclass(frozen=True, slots=True)
class UserState:
    """What auth.user.updated.v1 says about one user, at its `version`."""

    id: UUID
    username: str
    display_name: str
    created_at: datetime
    role: str | None
    deactivated: bool
    deleted: bool
    version: int


async def upsert_user(
    session: AsyncSession, user_id: UUID, username: str, display_name: str, created_at: datetime
) -> None:
    """Record a registration. A row already at a version above 0 (fed by auth.user.updated.v1,
    which always carries the newer data) is left as it is."""
    stmt = pg.insert(users).values(
        id=user_id, username=username, display_name=display_name, created_at=created_at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[users.c.id],
        set_={"username": stmt.excluded.username, "display_name": stmt.excluded.display_name},
        where=users.c.version == 0,
    )
    await session.execute(stmt)


async def apply_update(session: AsyncSession, state: UserState) -> bool:
    """Take `state` when its version is above the stored one (or the user is new); else leave
    the row as it is. True when taken. The upsert locks the row, so concurrent updates of one
    user apply one after the other and only the highest version stays."""
    values = {
        "username": state.username,
        "display_name": state.display_name,
        "role": state.role,
        "deactivated": state.deactivated,
        "deleted": state.deleted,
        "version": state.version,
    }
    stmt = pg.insert(users).values(id=state.id, created_at=state.created_at, **values)
    upsert = stmt.on_conflict_do_update(
        index_elements=[users.c.id],
        set_={name: stmt.excluded[name] for name in values},
        where=users.c.version < stmt.excluded.version,
    ).returning(users.c.id)
    return (await session.execute(upsert)).first() is not None


async def get_users(session: AsyncSession, ids: Iterable[UUID]) -> dict[UUID, DirectoryUser]:
    """The known users among `ids` (unknown ones are absent), deleted ones included."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    stmt = sa.select(
        users.c.id,
        users.c.username,
        users.c.display_name,
        users.c.role,
        users.c.deactivated,
        users.c.deleted,
    ).where(users.c.id.in_(wanted))
    return {
        r.id: DirectoryUser(
            id=r.id,
            username=r.username,
            display_name=r.display_name,
            role=r.role,
            deactivated=r.deactivated,
            deleted=r.deleted,
        )
        for r in await session.execute(stmt)
    }


async def get_usernames(session: AsyncSession, ids: Iterable[UUID]) -> dict[UUID, str]:
    """Usernames of the known users among `ids`, deleted ones included."""
    return {uid: user.username for uid, user in (await get_users(session, ids)).items()}


async def usernames_to_ids(
    session: AsyncSession, usernames: Iterable[str], room_id: UUID
) -> dict[str, UUID]:
    """The current members of `room_id` with one of `usernames` (compared case-insensitively;
    stored names are lower-case ASCII), keyed by the lower-cased username. Deleted users never
    match."""
    wanted = sorted({name.lower() for name in usernames})
    if not wanted:
        return {}
    stmt = (
        sa.select(users.c.username, users.c.id)
        .join(
            memberships,
            sa.and_(memberships.c.user_id == users.c.id, memberships.c.room_id == room_id),
        )
        .where(users.c.username.in_(wanted), sa.not_(users.c.deleted))
    )
    return {r.username: r.id for r in await session.execute(stmt)}
