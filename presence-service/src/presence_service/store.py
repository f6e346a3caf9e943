"""Persistence: last_seen_at per user, what the leader announced, and the leader lock.

Only the leader writes; every replica reads (the announced set at start, last_seen_at of users
it has no state for).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from ssl import SSLContext
from typing import Protocol

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine

from presence_service.domain.announcer import Announced, Change

metadata = sa.MetaData()

presence_users = sa.Table(
    "presence_users",
    metadata,
    sa.Column("user_id", UUID(as_uuid=False), primary_key=True),
    # The status last announced on the bus (offline rows keep last_seen_at).
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("status IN ('online', 'away', 'offline')", name="presence_users_status"),
)


_UPSERT_ANNOUNCED = sa.text(
    """
    INSERT INTO presence_users (user_id, status, last_seen_at)
    SELECT * FROM unnest(
        CAST(:user_ids AS uuid[]), CAST(:statuses AS text[]), CAST(:last_seen AS timestamptz[])
    )
    ON CONFLICT (user_id) DO UPDATE SET
        status = excluded.status,
        last_seen_at = greatest(presence_users.last_seen_at, excluded.last_seen_at),
        updated_at = now()
    """
)


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


class PresenceStore(Protocol):
    async def load_announced(self) -> dict[str, Announced]: ...

    async def save_announced(self, changes: Sequence[Change]) -> None: ...

    async def last_seen(self, user_ids: Iterable[str]) -> dict[str, float | None]: ...


class SqlPresenceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def load_announced(self) -> dict[str, Announced]:
        query = sa.select(
            presence_users.c.user_id, presence_users.c.status, presence_users.c.last_seen_at
        ).where(presence_users.c.status != "offline")
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {
            str(r.user_id): Announced(
                r.status, r.last_seen_at.timestamp() if r.last_seen_at else None
            )
            for r in rows
        }

    async def save_announced(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        # One fixed statement over three arrays, whatever the batch size: a multi-row VALUES
        # insert is a new statement for every row count, and compiling it cost more CPU than
        # the write itself. A user appears once per batch (the announcer guarantees it).
        async with self._engine.begin() as conn:
            await conn.execute(
                _UPSERT_ANNOUNCED,
                {
                    "user_ids": [c.user_id for c in changes],
                    "statuses": [c.status for c in changes],
                    "last_seen": [to_datetime(c.last_seen_at) for c in changes],
                },
            )

    async def last_seen(self, user_ids: Iterable[str]) -> dict[str, float | None]:
        ids = list(user_ids)
        if not ids:
            return {}
        query = sa.select(presence_users.c.user_id, presence_users.c.last_seen_at).where(
            presence_users.c.user_id.in_(ids)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {
            str(r.user_id): (r.last_seen_at.timestamp() if r.last_seen_at else None) for r in rows
        }


class FakePresenceStore:
    """In-memory store with the same behaviour, for unit tests of the application layer."""

    def __init__(self, rows: Mapping[str, Announced] | None = None) -> None:
        self.rows: dict[str, Announced] = dict(rows or {})

    async def load_announced(self) -> dict[str, Announced]:
        return {u: r for u, r in self.rows.items() if r.status != "offline"}

    async def save_announced(self, changes: Sequence[Change]) -> None:
        for c in changes:
            self.rows[c.user_id] = Announced(c.status, c.last_seen_at)

    async def last_seen(self, user_ids: Iterable[str]) -> dict[str, float | None]:
        return {u: self.rows[u].last_seen_at for u in user_ids if u in self.rows}


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class AdvisoryLock:
    """A PostgreSQL session advisory lock on a dedicated connection.

    The lock lives exactly as long as the connection: if this process dies or its connection
    drops, PostgreSQL releases it and another replica's next try wins.
    """

    def __init__(self, database_url: str, key: int, *, ssl: SSLContext | None = None) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._ssl = ssl  # CHAT_DATABASE_CA_FILE, like the service's engine
        self._key = key
        self._conn: asyncpg.Connection | None = None
        self.held = False

    @property
    def backend_pid(self) -> int | None:
        return self._conn.get_server_pid() if self._conn is not None else None

    async def try_acquire(self) -> bool:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._dsn, timeout=5, ssl=self._ssl)
            self.held = bool(
                await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key)
            )
        except (OSError, asyncpg.PostgresError, TimeoutError):
            await self._drop()
        return self.held

    async def still_held(self) -> bool:
        """A cheap round trip: a dead connection means the lock is gone."""
        if not self.held or self._conn is None or self._conn.is_closed():
            self.held = False
            return False
        try:
            await self._conn.fetchval("SELECT 1", timeout=5)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            await self._drop()
        return self.held

    async def release(self) -> None:
        await self._drop()

    async def _drop(self) -> None:
        self.held = False
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()
