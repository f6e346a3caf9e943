"""Repositories of message-service: SQL through SQLAlchemy Core with bound parameters only.

Every function takes the caller's AsyncSession so the caller decides the transaction (one per
REST request, one per command batch) and the outbox rows land in the same one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol
from uuid import UUID

import sqlalchemy as sa
from chat_runtime.messaging.outbox import outbox_table
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from message_service.domain.model import Message, Room, RoomView

metadata = sa.MetaData()

rooms = sa.Table(
    "rooms",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("visibility", sa.Text, nullable=False),
    sa.Column("created_by", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("direct_key", sa.Text, nullable=True, unique=True),
    sa.CheckConstraint("kind IN ('channel', 'direct')", name="rooms_kind"),
    sa.CheckConstraint("visibility IN ('public', 'private')", name="rooms_visibility"),
)
sa.Index(
    "rooms_public_name",
    sa.func.lower(rooms.c.name),
    postgresql_where=rooms.c.visibility == "public",
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("room_id", pg.UUID(as_uuid=True), sa.ForeignKey("rooms.id"), primary_key=True),
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_read_seq", sa.BigInteger, nullable=False, server_default="0"),
)
sa.Index("memberships_user", memberships.c.user_id)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("room_id", pg.UUID(as_uuid=True), sa.ForeignKey("rooms.id"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("sender_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("client_msg_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("room_id", "seq", name="messages_room_seq"),
    sa.UniqueConstraint("sender_id", "client_msg_id", name="messages_sender_client_msg_id"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)


def _room(row: Any) -> Room:
    return Room(
        id=row.id,
        kind=row.kind,
        name=row.name,
        visibility=row.visibility,
        created_by=row.created_by,
        created_at=row.created_at,
        last_seq=row.last_seq,
        last_activity_at=row.last_activity_at,
        direct_key=row.direct_key,
    )


def _message(row: Any) -> Message:
    return Message(
        id=row.id,
        room_id=row.room_id,
        seq=row.seq,
        kind=row.kind,
        sender_id=row.sender_id,
        text=row.text,
        client_msg_id=row.client_msg_id,
        created_at=row.created_at,
    )


# --- rooms -------------------------------------------------------------------------------------


async def insert_room(session: AsyncSession, room: Room) -> None:
    await session.execute(
        sa.insert(rooms).values(
            id=room.id,
            kind=room.kind,
            name=room.name,
            visibility=room.visibility,
            created_by=room.created_by,
            created_at=room.created_at,
            last_seq=room.last_seq,
            last_activity_at=room.last_activity_at,
            direct_key=room.direct_key,
        )
    )


async def insert_direct_room(session: AsyncSession, room: Room) -> bool:
    """Insert a direct room unless one with the same key exists; True when this call created it."""
    stmt = (
        pg.insert(rooms)
        .values(
            id=room.id,
            kind=room.kind,
            name=room.name,
            visibility=room.visibility,
            created_by=room.created_by,
            created_at=room.created_at,
            last_seq=0,
            last_activity_at=room.last_activity_at,
            direct_key=room.direct_key,
        )
        .on_conflict_do_nothing(index_elements=[rooms.c.direct_key])
        .returning(rooms.c.id)
    )
    return (await session.execute(stmt)).first() is not None


async def get_room(
    session: AsyncSession, room_id: UUID, *, for_update: bool = False
) -> Room | None:
    stmt = sa.select(rooms).where(rooms.c.id == room_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return _room(row) if row else None


async def get_direct_room(session: AsyncSession, key: str) -> Room | None:
    row = (await session.execute(sa.select(rooms).where(rooms.c.direct_key == key))).first()
    return _room(row) if row else None


def _uuid_array(name: str, values: Sequence[UUID]) -> Any:
    # `= ANY(array)` instead of `IN (...)`: one SQL text whatever the count, so asyncpg's
    # prepared statement is reused instead of prepared again for every batch size.
    return sa.bindparam(name, list(values), type_=pg.ARRAY(pg.UUID(as_uuid=True)))


async def lock_rooms(
    session: AsyncSession, pairs: Iterable[tuple[UUID, UUID]]
) -> dict[UUID, tuple[int, frozenset[UUID]]]:
    """Lock the rooms of these (room_id, sender_id) pairs in id order (so concurrent batches
    never deadlock) and return, per existing room, its last_seq and which of the senders are
    its members. One round trip: the lock and the membership check share it."""
    wanted = set(pairs)
    if not wanted:
        return {}
    m = memberships
    senders = _uuid_array("senders", sorted({user for _, user in wanted}))
    stmt = (
        sa.select(rooms.c.id, rooms.c.last_seq, m.c.user_id)
        .select_from(
            rooms.outerjoin(m, sa.and_(m.c.room_id == rooms.c.id, m.c.user_id == sa.any_(senders)))
        )
        .where(rooms.c.id == sa.any_(_uuid_array("rooms", sorted({r for r, _ in wanted}))))
        .order_by(rooms.c.id)
        .with_for_update(of=rooms)  # the room rows only; PostgreSQL locks them in sorted order
    )
    found: dict[UUID, tuple[int, set[UUID]]] = {}
    for row in await session.execute(stmt):
        _, members = found.setdefault(row.id, (row.last_seq, set()))
        if row.user_id is not None:
            members.add(row.user_id)
    return {room: (seq, frozenset(members)) for room, (seq, members) in found.items()}


def _member_count() -> Any:
    # An alias: the outer query may join memberships itself (the caller's own row).
    others = memberships.alias("others")
    return (
        sa.select(sa.func.count())
        .select_from(others)
        .where(others.c.room_id == rooms.c.id)
        .correlate(rooms)
        .scalar_subquery()
    )


async def room_view(session: AsyncSession, room_id: UUID, user_id: UUID) -> RoomView | None:
    read = (
        sa.select(memberships.c.last_read_seq)
        .where(memberships.c.room_id == rooms.c.id, memberships.c.user_id == user_id)
        .correlate(rooms)
        .scalar_subquery()
    )
    stmt = sa.select(rooms, _member_count().label("member_count"), read.label("lrs")).where(
        rooms.c.id == room_id
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return RoomView(_room(row), row.member_count, row.lrs or 0)


async def rooms_of_user(session: AsyncSession, user_id: UUID) -> list[RoomView]:
    stmt = (
        sa.select(rooms, _member_count().label("member_count"), memberships.c.last_read_seq)
        .join(memberships, memberships.c.room_id == rooms.c.id)
        .where(memberships.c.user_id == user_id)
        .order_by(rooms.c.last_activity_at.desc(), rooms.c.id)
    )
    return [
        RoomView(_room(r), r.member_count, r.last_read_seq) for r in await session.execute(stmt)
    ]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def public_rooms(
    session: AsyncSession, user_id: UUID, prefix: str, limit: int
) -> list[RoomView]:
    read = (
        sa.select(memberships.c.last_read_seq)
        .where(memberships.c.room_id == rooms.c.id, memberships.c.user_id == user_id)
        .correlate(rooms)
        .scalar_subquery()
    )
    stmt = sa.select(rooms, _member_count().label("member_count"), read.label("lrs")).where(
        rooms.c.visibility == "public", rooms.c.kind == "channel"
    )
    if prefix:
        stmt = stmt.where(
            sa.func.lower(rooms.c.name).like(_escape_like(prefix.lower()) + "%", escape="\\")
        )
    stmt = stmt.order_by(sa.func.lower(rooms.c.name), rooms.c.id).limit(limit)
    return [RoomView(_room(r), r.member_count, r.lrs or 0) for r in await session.execute(stmt)]


# --- memberships -------------------------------------------------------------------------------


async def is_member(session: AsyncSession, room_id: UUID, user_id: UUID) -> bool:
    stmt = sa.select(sa.literal(1)).where(
        memberships.c.room_id == room_id, memberships.c.user_id == user_id
    )
    return (await session.execute(stmt)).first() is not None


async def add_member(session: AsyncSession, room_id: UUID, user_id: UUID, now: datetime) -> bool:
    """Add a membership; True when it is new (False when the user already was a member)."""
    stmt = (
        pg.insert(memberships)
        .values(room_id=room_id, user_id=user_id, joined_at=now, last_read_seq=0)
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


async def members(session: AsyncSession, room_id: UUID) -> list[tuple[UUID, datetime, int]]:
    stmt = (
        sa.select(memberships.c.user_id, memberships.c.joined_at, memberships.c.last_read_seq)
        .where(memberships.c.room_id == room_id)
        .order_by(memberships.c.joined_at, memberships.c.user_id)
    )
    return [(r.user_id, r.joined_at, r.last_read_seq) for r in await session.execute(stmt)]


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


# --- messages ----------------------------------------------------------------------------------


async def messages_by_client_ids(
    session: AsyncSession, pairs: Iterable[tuple[UUID, UUID]]
) -> dict[tuple[UUID, UUID], Message]:
    """Stored messages for (sender_id, client_msg_id) pairs that already exist."""
    wanted = set(pairs)
    if not wanted:
        return {}
    ordered = sorted(wanted)
    pairs_table = sa.select(
        sa.func.unnest(_uuid_array("senders", [s for s, _ in ordered])).label("sender_id"),
        sa.func.unnest(_uuid_array("client_ids", [c for _, c in ordered])).label("client_msg_id"),
    ).subquery()
    stmt = sa.select(messages).join(
        pairs_table,
        sa.and_(
            messages.c.sender_id == pairs_table.c.sender_id,
            messages.c.client_msg_id == pairs_table.c.client_msg_id,
        ),
    )
    return {(r.sender_id, r.client_msg_id): _message(r) for r in await session.execute(stmt)}


# One statement for everything a send batch writes besides its events: the new messages, each
# room's new last_seq, each sender's read position (never moved back). Three statements were
# three round trips per batch, each one more wait for a scheduler slice on a busy machine.
_WRITE_BATCH = sa.text(
    """
    WITH new_messages AS (
        INSERT INTO messages (id, room_id, seq, kind, sender_id, text, client_msg_id, created_at)
        SELECT * FROM unnest(
            CAST(:ids AS uuid[]), CAST(:room_ids AS uuid[]), CAST(:seqs AS bigint[]),
            CAST(:kinds AS text[]), CAST(:sender_ids AS uuid[]), CAST(:texts AS text[]),
            CAST(:client_msg_ids AS uuid[]), CAST(:created_ats AS timestamptz[])
        )
    ), room_seqs AS (
        UPDATE rooms SET last_seq = v.seq, last_activity_at = :now
        FROM unnest(CAST(:seq_room_ids AS uuid[]), CAST(:room_seqs AS bigint[])) AS v(id, seq)
        WHERE rooms.id = v.id
    )
    UPDATE memberships SET last_read_seq = v.seq
    FROM unnest(
        CAST(:read_room_ids AS uuid[]), CAST(:read_user_ids AS uuid[]), CAST(:read_seqs AS bigint[])
    ) AS v(room_id, user_id, seq)
    WHERE memberships.room_id = v.room_id AND memberships.user_id = v.user_id
      AND memberships.last_read_seq < v.seq
    """
)


async def write_batch(
    session: AsyncSession,
    new: Sequence[Message],
    last_seqs: dict[UUID, int],
    read_positions: dict[tuple[UUID, UUID], int],
    now: datetime,
) -> None:
    """Insert the new messages, move the rooms' last_seq and the senders' read positions."""
    if not (new or last_seqs or read_positions):
        return
    await session.execute(
        _WRITE_BATCH,
        {
            "ids": [m.id for m in new],
            "room_ids": [m.room_id for m in new],
            "seqs": [m.seq for m in new],
            "kinds": [m.kind for m in new],
            "sender_ids": [m.sender_id for m in new],
            "texts": [m.text for m in new],
            "client_msg_ids": [m.client_msg_id for m in new],
            "created_ats": [m.created_at for m in new],
            "now": now,
            "seq_room_ids": list(last_seqs),
            "room_seqs": list(last_seqs.values()),
            "read_room_ids": [room for room, _ in read_positions],
            "read_user_ids": [user for _, user in read_positions],
            "read_seqs": list(read_positions.values()),
        },
    )


async def history(
    session: AsyncSession,
    room_id: UUID,
    *,
    after_seq: int | None,
    before_seq: int | None,
    limit: int,
) -> tuple[list[Message], bool]:
    """A page of a room's messages in ascending seq order and whether more exist that way."""
    stmt = sa.select(messages).where(messages.c.room_id == room_id)
    if after_seq is not None:
        stmt = stmt.where(messages.c.seq > after_seq).order_by(messages.c.seq)
    else:
        if before_seq is not None:
            stmt = stmt.where(messages.c.seq < before_seq)
        stmt = stmt.order_by(messages.c.seq.desc())
    rows = [_message(r) for r in await session.execute(stmt.limit(limit + 1))]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if after_seq is None:
        rows.reverse()
    return rows, has_more


# --- users directory ---------------------------------------------------------------------------


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


# --- unit of work ------------------------------------------------------------------------------


class Notifier(Protocol):
    """The outbox relay as a unit of work sees it (`OutboxRelay`)."""

    def after_commit(self, session: AsyncSession) -> None: ...


class UnitOfWork:
    """One transaction: commit on success, then hand the events it wrote to the outbox relay,
    which publishes them from memory at once (the table is the fallback)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], relay: Notifier | None) -> None:
        self._sessions = sessions
        self._relay = relay
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> AsyncSession:
        self._session = self._sessions()
        await self._session.begin()
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        assert session is not None
        committed = False
        try:
            if exc_type is None:
                await session.commit()
                committed = True
            else:
                await session.rollback()
        finally:
            await session.close()
        if committed and self._relay is not None:
            self._relay.after_commit(session)
