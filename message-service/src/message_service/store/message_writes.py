"""The send path's statements (README "Send path"): lock the touched rooms and read which
senders are members, find repeats, write a whole batch in one statement."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.model import Message
from message_service.store.tables import memberships, message_of, messages, rooms, uuid_array


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
    senders = uuid_array("senders", sorted({user for _, user in wanted}))
    stmt = (
        sa.select(rooms.c.id, rooms.c.last_seq, m.c.user_id)
        .select_from(
            rooms.outerjoin(m, sa.and_(m.c.room_id == rooms.c.id, m.c.user_id == sa.any_(senders)))
        )
        .where(rooms.c.id == sa.any_(uuid_array("rooms", sorted({r for r, _ in wanted}))))
        .order_by(rooms.c.id)
        .with_for_update(of=rooms)  # the room rows only; PostgreSQL locks them in sorted order
    )
    found: dict[UUID, tuple[int, set[UUID]]] = {}
    for row in await session.execute(stmt):
        _, members = found.setdefault(row.id, (row.last_seq, set()))
        if row.user_id is not None:
            members.add(row.user_id)
    return {room: (seq, frozenset(members)) for room, (seq, members) in found.items()}


async def messages_by_client_ids(
    session: AsyncSession, pairs: Iterable[tuple[UUID, UUID]]
) -> dict[tuple[UUID, UUID], Message]:
    """Stored messages for (sender_id, client_msg_id) pairs that already exist."""
    wanted = set(pairs)
    if not wanted:
        return {}
    ordered = sorted(wanted)
    pairs_table = sa.select(
        sa.func.unnest(uuid_array("senders", [s for s, _ in ordered])).label("sender_id"),
        sa.func.unnest(uuid_array("client_ids", [c for _, c in ordered])).label("client_msg_id"),
    ).subquery()
    stmt = sa.select(messages).join(
        pairs_table,
        sa.and_(
            messages.c.sender_id == pairs_table.c.sender_id,
            messages.c.client_msg_id == pairs_table.c.client_msg_id,
        ),
    )
    return {(r.sender_id, r.client_msg_id): message_of(r) for r in await session.execute(stmt)}


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
