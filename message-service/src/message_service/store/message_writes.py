"""The send path's statements (README "Send path"): lock the touched rooms and read which
senders are members, find repeats, read the targets of change entries (and thread roots), write a
whole batch in one statement (and, only when it has change entries or replies, their effects in
a second one; only when it has mentions or replies, `mentions` rows and thread read positions in
a third)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.model import Mentions, Message, ReactionMark
from message_service.domain.room_roles import WORKSPACE_ADMIN_ROLES
from message_service.domain.sending import BatchPlan, NoopSend, RoomState, Stored, Target
from message_service.store.files import ATTACHMENTS_JSON, files_from_json, write_attachments
from message_service.store.tables import (
    OUTBOX_MESSAGE_REF,
    OUTBOX_MESSAGE_TYPES,
    blocks,
    memberships,
    message_of,
    rooms,
    users,
    uuid_array,
)

_members = memberships.alias("direct_members")
_deactivated_users = users.alias("deactivated_users")
_sender_users = users.alias("sender_users")
# A 1:1 direct room: its key holds two ids (a group's holds more, api-v1.1 C); notes to
# yourself ("a:a") have one member and nobody to block.
_ONE_TO_ONE = sa.and_(
    rooms.c.kind == sa.literal_column("'direct'"),
    sa.func.array_length(sa.func.string_to_array(rooms.c.direct_key, sa.literal_column("':'")), 1)
    == 2,
)
# 1:1 direct rooms only (api-v1.1 A `deactivated`): their members whose account is deactivated.
# A CASE, so channels (and the hot path's plain sends to them) never run the subquery.
_DEACTIVATED = sa.case(
    (
        _ONE_TO_ONE,
        sa.select(sa.func.array_agg(_members.c.user_id))
        .select_from(
            _members.join(_deactivated_users, _deactivated_users.c.id == _members.c.user_id)
        )
        .where(_members.c.room_id == rooms.c.id, _deactivated_users.c.deactivated)
        .scalar_subquery(),
    ),
    else_=sa.null(),
).label("deactivated")


def _key_part(index: int) -> Any:
    return sa.cast(sa.func.split_part(rooms.c.direct_key, sa.literal_column("':'"), index), pg.UUID)


_first, _second = _key_part(1), _key_part(2)
# 1:1 direct rooms only (api-v1.1 C `blocked`): either of the two blocks the other (the
# `blocks` projection of auth.block.changed.v1; two primary-key lookups).
_BLOCKED = sa.case(
    (
        sa.and_(_ONE_TO_ONE, _first != _second),
        sa.exists().where(
            blocks.c.blocked,
            sa.or_(
                sa.and_(blocks.c.blocker_id == _first, blocks.c.blocked_id == _second),
                sa.and_(blocks.c.blocker_id == _second, blocks.c.blocked_id == _first),
            ),
        ),
    ),
    else_=sa.false(),
).label("blocked")
# Channels, only when the batch asks (`:with_roles`, a delete or a possible `@room`): whether
# the sender's workspace role makes them a room admin (api-v1.1 C). A bound flag rather than
# another statement, so a plain batch runs the same single statement and never the lookup.
_WORKSPACE_ADMIN = sa.case(
    (
        sa.and_(
            sa.bindparam("with_roles", type_=sa.Boolean),
            rooms.c.kind == sa.literal_column("'channel'"),
            memberships.c.user_id.isnot(None),
        ),
        sa.exists().where(
            _sender_users.c.id == memberships.c.user_id,
            _sender_users.c.role.in_(sorted(WORKSPACE_ADMIN_ROLES)),
        ),
    ),
    else_=sa.false(),
).label("workspace_admin")


async def lock_rooms(
    session: AsyncSession, pairs: Iterable[tuple[UUID, UUID]], *, with_roles: bool = False
) -> dict[UUID, RoomState]:
    """Lock the rooms of these (room_id, sender_id) pairs in id order (so concurrent batches
    never deadlock) and return, per existing room, its last_seq, kind, archive state, which of
    the senders are its members and (channels) its room admins, and of 1:1 direct rooms the
    members whose account is deactivated and whether one blocks the other. One round trip: the
    lock and the membership check share it. `with_roles`: a sender's workspace role counts
    (otherwise only their room role does: enough for batches without deletes or `@room`)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    m = memberships
    senders = uuid_array("senders", sorted({user for _, user in wanted}))
    stmt = (
        sa.select(
            rooms.c.id,
            rooms.c.last_seq,
            rooms.c.kind,
            rooms.c.archived,
            m.c.user_id,
            m.c.role,
            _WORKSPACE_ADMIN,
            _DEACTIVATED,
            _BLOCKED,
        )
        .select_from(
            rooms.outerjoin(m, sa.and_(m.c.room_id == rooms.c.id, m.c.user_id == sa.any_(senders)))
        )
        .where(rooms.c.id == sa.any_(uuid_array("rooms", sorted({r for r, _ in wanted}))))
        .order_by(rooms.c.id)
        .with_for_update(of=rooms)  # the room rows only; PostgreSQL locks them in sorted order
    )
    found: dict[UUID, tuple[Any, set[UUID], set[UUID]]] = {}
    result = await session.execute(stmt, {"with_roles": with_roles})
    for row in result:
        _, members, admins = found.setdefault(row.id, (row, set(), set()))
        if row.user_id is not None:
            members.add(row.user_id)
            if row.kind == "channel" and (row.role == "admin" or row.workspace_admin):
                admins.add(row.user_id)
    return {
        room: RoomState(
            last_seq=row.last_seq,
            members=frozenset(members),
            kind=row.kind,
            deactivated=frozenset(row.deactivated or ()),
            archived=row.archived,
            admins=frozenset(admins),
            blocked=bool(row.blocked),
        )
        for room, (row, members, admins) in found.items()
    }


# Repeats: the stored entries and the no-op receipts of the batch's (sender, client_msg_id)
# pairs, in one round trip (a client_msg_id is unique across both per sender).
_REPEATS = sa.text(
    f"""
    WITH pairs AS (
        SELECT * FROM unnest(CAST(:senders AS uuid[]), CAST(:client_ids AS uuid[]))
            AS p(sender_id, client_msg_id)
    )
    SELECT false AS noop, m.id, m.room_id, m.seq, m.kind, m.sender_id, m.text, m.client_msg_id,
           m.created_at, m.target_id, m.emoji, m.added, m.event, m.actor_id, m.subject_id,
           m.value, m.edited_at, m.deleted, m.state_seq, m.content_hash, m.thread_root_id,
           m.mention_user_ids, m.mention_room, m.reply_count, m.last_reply_at, m.participant_ids,
           CASE WHEN m.kind = 'text' THEN {ATTACHMENTS_JSON} END AS attachments
    FROM messages m JOIN pairs p
      ON m.sender_id = p.sender_id AND m.client_msg_id = p.client_msg_id
    UNION ALL
    SELECT true, NULL, n.room_id, NULL, NULL, n.sender_id, NULL, n.client_msg_id,
           n.created_at, n.target_id, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, n.content_hash, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
    FROM noop_sends n JOIN pairs p
      ON n.sender_id = p.sender_id AND n.client_msg_id = p.client_msg_id
    """  # noqa: S608 (a constant of store/files.py)
)


async def stored_by_client_ids(
    session: AsyncSession, pairs: Iterable[tuple[UUID, UUID]]
) -> dict[tuple[UUID, UUID], Stored]:
    """What (sender_id, client_msg_id) pairs already stand for: an entry or a no-op receipt."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    result = await session.execute(
        _REPEATS,
        {"senders": [s for s, _ in wanted], "client_ids": [c for _, c in wanted]},
    )
    found: dict[tuple[UUID, UUID], Stored] = {}
    for row in result:
        key = (row.sender_id, row.client_msg_id)
        if row.noop:
            found[key] = NoopSend(
                sender_id=row.sender_id,
                client_msg_id=row.client_msg_id,
                room_id=row.room_id,
                target_id=row.target_id,
                content_hash=bytes(row.content_hash),
                created_at=row.created_at,
            )
        else:
            found[key] = _entry_of(row)
    return found


def _entry_of(row: Any) -> Message:
    """A `messages` row read with ATTACHMENTS_JSON (api-v1.1 E) as a Message with its files."""
    message = message_of(row)
    if row.attachments is None:
        return message
    return dataclasses.replace(message, attachments=files_from_json(row.attachments))


# The entries of these ids in the locked rooms, each with its reaction rows in seq order.
_TARGETS = sa.text(
    f"""
    SELECT m.*, r.emojis, r.user_ids, r.seqs, r.emoji_seqs,
           CASE WHEN m.kind = 'text' AND NOT m.deleted THEN {ATTACHMENTS_JSON} END AS attachments
    FROM messages m
    LEFT JOIN LATERAL (
        SELECT array_agg(x.emoji ORDER BY x.seq) AS emojis,
               array_agg(x.user_id ORDER BY x.seq) AS user_ids,
               array_agg(x.seq ORDER BY x.seq) AS seqs,
               array_agg(x.emoji_seq ORDER BY x.seq) AS emoji_seqs
        FROM reactions x WHERE x.message_id = m.id
    ) r ON true
    WHERE m.id = ANY(CAST(:ids AS uuid[])) AND m.room_id = ANY(CAST(:room_ids AS uuid[]))
    """  # noqa: S608 (a constant of store/files.py)
)


async def load_targets(
    session: AsyncSession, ids: Iterable[UUID], room_ids: Iterable[UUID]
) -> dict[UUID, Target]:
    """The entries with these ids in these (locked) rooms and their reactions."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    result = await session.execute(_TARGETS, {"ids": wanted, "room_ids": sorted(set(room_ids))})
    targets: dict[UUID, Target] = {}
    for row in result:
        marks = tuple(
            ReactionMark(emoji, user, seq, since)
            for emoji, user, seq, since in zip(
                row.emojis or (),
                row.user_ids or (),
                row.seqs or (),
                row.emoji_seqs or (),
                strict=True,
            )
        )
        targets[row.id] = Target(_entry_of(row), marks)
    return targets


# One statement for everything a send batch writes besides its events and the effects of its
# change entries: the new entries, each room's new last_seq (and activity time when it got a
# text entry), each sender's read position (never moved back). Three statements were three
# round trips per batch, each one more wait for a scheduler slice on a busy machine.
_ENTRY_COLUMNS = (
    ("id", "uuid"),
    ("room_id", "uuid"),
    ("seq", "bigint"),
    ("kind", "text"),
    ("sender_id", "uuid"),
    ("text", "text"),
    ("client_msg_id", "uuid"),
    ("created_at", "timestamptz"),
    ("content_hash", "bytea"),
)
# Only change and system entries fill these: a batch of plain text entries leaves them out.
_CHANGE_COLUMNS = (
    ("target_id", "uuid"),
    ("emoji", "text"),
    ("added", "boolean"),
    ("event", "text"),
    ("actor_id", "uuid"),
    ("subject_id", "uuid"),
    ("value", "text"),
    ("edited_at", "timestamptz"),
    ("deleted", "boolean"),
    ("state_seq", "bigint"),
    # Threads and mentions (api-v1.1 A): uuid[] columns travel as text[] of array literals
    # (unnest flattens a two-dimensional array) and are cast back per row.
    ("thread_root_id", "uuid"),
    ("mention_user_ids", "uuid[]"),
    ("mention_room", "boolean"),
    ("reply_count", "integer"),
    ("last_reply_at", "timestamptz"),
    ("participant_ids", "uuid[]"),
)


def _write_batch_sql(columns: Sequence[tuple[str, str]]) -> sa.TextClause:
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"CAST(:{name}s AS {_param_type(type_)}[])" for name, type_ in columns)
    nested = any(type_.endswith("[]") for _, type_ in columns)
    values = ", ".join(_column_value(name, type_) for name, type_ in columns)
    # Constants of this module only (see below).
    rows = (
        f"SELECT {values} FROM unnest({arrays}) AS v({names})"  # noqa: S608
        if nested
        else f"SELECT * FROM unnest({arrays})"  # noqa: S608
    )
    # Built once at import from the constant column lists above: no input reaches the text.
    return sa.text(
        f"""
        WITH new_messages AS (
            INSERT INTO messages ({names})
            {rows}
        ), room_seqs AS (
            UPDATE rooms SET last_seq = v.seq,
                last_activity_at = CASE WHEN v.active THEN :now ELSE rooms.last_activity_at END
            FROM unnest(
                CAST(:seq_room_ids AS uuid[]), CAST(:room_seqs AS bigint[]),
                CAST(:room_active AS boolean[])
            ) AS v(id, seq, active)
            WHERE rooms.id = v.id
        )
        UPDATE memberships SET last_read_seq = v.seq
        FROM unnest(
            CAST(:read_room_ids AS uuid[]), CAST(:read_user_ids AS uuid[]),
            CAST(:read_seqs AS bigint[])
        ) AS v(room_id, user_id, seq)
        WHERE memberships.room_id = v.room_id AND memberships.user_id = v.user_id
          AND memberships.last_read_seq < v.seq
        """  # noqa: S608
    )


def _param_type(type_: str) -> str:
    return "text" if type_.endswith("[]") else type_


def _column_value(name: str, type_: str) -> str:
    return f"CAST(v.{name} AS {type_})" if type_.endswith("[]") else f"v.{name}"


def uuid_literal(values: Sequence[UUID] | None) -> str | None:
    """A uuid[] value as the array literal `{a,b}` (None stays NULL)."""
    return None if values is None else "{" + ",".join(str(v) for v in values) + "}"


def _mention_columns(mentions: Mentions | None) -> tuple[str | None, bool | None]:
    if mentions is None:
        return None, None
    return uuid_literal(mentions.user_ids), mentions.room


def _root_participants(message: Message) -> str | None:
    return uuid_literal(message.participant_ids) if message.last_reply_at is not None else None


def _plain(message: Message) -> bool:
    """A v1 text entry: no change, no thread, no mentions (the hot path's statement)."""
    return (
        message.kind == "text"
        and message.thread_root_id is None
        and message.mentions is None
        and message.last_reply_at is None
    )


_WRITE_TEXT_BATCH = _write_batch_sql(_ENTRY_COLUMNS)
_WRITE_BATCH = _write_batch_sql(_ENTRY_COLUMNS + _CHANGE_COLUMNS)


async def write_batch(session: AsyncSession, plan: BatchPlan, now: datetime) -> None:
    """Insert the new entries, move the rooms' last_seq (and activity time) and the senders'
    read positions; then, when the batch has change entries or no-ops, their effects."""
    new = plan.new_messages
    last_seqs = plan.last_seqs
    read_positions = plan.read_positions
    if new or last_seqs or read_positions:
        plain = all(_plain(m) for m in new)
        params: dict[str, Any] = {
            "ids": [m.id for m in new],
            "room_ids": [m.room_id for m in new],
            "seqs": [m.seq for m in new],
            "kinds": [m.kind for m in new],
            "sender_ids": [m.sender_id for m in new],
            "texts": [m.text for m in new],
            "client_msg_ids": [m.client_msg_id for m in new],
            "created_ats": [m.created_at for m in new],
            "content_hashs": [m.content_hash for m in new],
            "now": now,
            "seq_room_ids": list(last_seqs),
            "room_seqs": list(last_seqs.values()),
            "room_active": [room in plan.active_rooms for room in last_seqs],
            "read_room_ids": [room for room, _ in read_positions],
            "read_user_ids": [user for _, user in read_positions],
            "read_seqs": list(read_positions.values()),
        }
        if not plain:
            # Entries of this batch changed by later ones of it are inserted in their final state.
            for name, type_ in _CHANGE_COLUMNS:
                if not type_.endswith("[]") and name not in ("mention_room",):
                    params[f"{name}s"] = [getattr(m, name) for m in new]
            mentions = [_mention_columns(m.mentions) for m in new]
            params["mention_user_idss"] = [users for users, _ in mentions]
            params["mention_rooms"] = [room for _, room in mentions]
            params["participant_idss"] = [_root_participants(m) for m in new]
            await session.execute(_WRITE_BATCH, params)
        else:
            await session.execute(_WRITE_TEXT_BATCH, params)
    if plan.changes_targets:
        await _write_changes(session, plan)
    if plan.writes_threads_or_mentions:
        await _write_threads_and_mentions(session, plan)
    if plan.attachment_rows:
        await write_attachments(session, plan.attachment_rows)


# The effects of change entries on entries stored before this batch, one statement: their new
# state; reaction rows removed and written; no-op receipts; and for deleted entries their
# attachments (api-v1.1 E: file access through them ends with this commit) and the text of
# their edits and of every outbox row that carries them or their edits (published or not; the
# rows' `attachments` go too), through the partial expression index outbox_message_ref. The
# parts touch disjoint rows (the planner nets a batch's reactions per row), which
# data-modifying CTEs of one statement need: none sees the others' changes.
_WRITE_CHANGES = sa.text(
    f"""
    WITH targets AS (
        UPDATE messages SET text = v.text, edited_at = v.edited_at, deleted = v.deleted,
            state_seq = v.state_seq, content_hash = v.content_hash,
            mention_user_ids = CAST(v.mention_user_ids AS uuid[]), mention_room = v.mention_room,
            reply_count = v.reply_count, last_reply_at = v.last_reply_at,
            participant_ids = CAST(v.participant_ids AS uuid[])
        FROM unnest(
            CAST(:t_ids AS uuid[]), CAST(:t_texts AS text[]),
            CAST(:t_edited_ats AS timestamptz[]), CAST(:t_deleted AS boolean[]),
            CAST(:t_state_seqs AS bigint[]), CAST(:t_hashes AS bytea[]),
            CAST(:t_mention_user_ids AS text[]), CAST(:t_mention_rooms AS boolean[]),
            CAST(:t_reply_counts AS integer[]), CAST(:t_last_reply_ats AS timestamptz[]),
            CAST(:t_participant_ids AS text[])
        ) AS v(id, text, edited_at, deleted, state_seq, content_hash, mention_user_ids,
               mention_room, reply_count, last_reply_at, participant_ids)
        WHERE messages.id = v.id
    ), removed AS (
        DELETE FROM reactions r
        USING unnest(
            CAST(:rm_ids AS uuid[]), CAST(:rm_emojis AS text[]), CAST(:rm_users AS uuid[])
        ) AS v(message_id, emoji, user_id)
        WHERE r.message_id = v.message_id AND r.emoji = v.emoji AND r.user_id = v.user_id
    ), erased_reactions AS (
        DELETE FROM reactions r WHERE r.message_id = ANY(CAST(:erased_ids AS uuid[]))
    ), erased_attachments AS (
        DELETE FROM message_attachments a WHERE a.message_id = ANY(CAST(:erased_ids AS uuid[]))
    ), put AS (
        INSERT INTO reactions (message_id, emoji, user_id, seq, emoji_seq)
        SELECT * FROM unnest(
            CAST(:put_ids AS uuid[]), CAST(:put_emojis AS text[]), CAST(:put_users AS uuid[]),
            CAST(:put_seqs AS bigint[]), CAST(:put_emoji_seqs AS bigint[])
        )
        ON CONFLICT (message_id, emoji, user_id)
        DO UPDATE SET seq = excluded.seq, emoji_seq = excluded.emoji_seq
    ), noops AS (
        INSERT INTO noop_sends (sender_id, client_msg_id, room_id, target_id, content_hash,
                                created_at)
        SELECT * FROM unnest(
            CAST(:n_senders AS uuid[]), CAST(:n_client_ids AS uuid[]), CAST(:n_rooms AS uuid[]),
            CAST(:n_targets AS uuid[]), CAST(:n_hashes AS bytea[]),
            CAST(:n_created_ats AS timestamptz[])
        )
    ), erased_edits AS (
        UPDATE messages SET text = '', mention_user_ids = NULL, mention_room = NULL
        WHERE target_id = ANY(CAST(:erased_ids AS uuid[])) AND kind = 'edit'
          AND (text <> '' OR mention_user_ids IS NOT NULL OR mention_room IS NOT NULL)
        RETURNING id
    )
    UPDATE outbox
    SET body = jsonb_set(body #- '{{message,attachments}}', '{{message,text}}', '""'::jsonb)
    WHERE {OUTBOX_MESSAGE_REF} = ANY(
            CAST(:erased_refs AS text[]) || ARRAY(SELECT id::text FROM erased_edits)
        )
      AND {OUTBOX_MESSAGE_TYPES}
      AND (body #>> '{{message,text}}' <> '' OR body #> '{{message,attachments}}' IS NOT NULL)
    """  # noqa: S608 (constants of tables.py only)
)


async def _write_changes(session: AsyncSession, plan: BatchPlan) -> None:
    updates = plan.target_updates
    noops: Sequence[NoopSend] = plan.noops
    await session.execute(
        _WRITE_CHANGES,
        {
            "t_ids": [m.id for m in updates],
            "t_texts": [m.text for m in updates],
            "t_edited_ats": [m.edited_at for m in updates],
            "t_deleted": [m.deleted for m in updates],
            "t_state_seqs": [m.state_seq for m in updates],
            "t_hashes": [m.content_hash for m in updates],
            "t_mention_user_ids": [_mention_columns(m.mentions)[0] for m in updates],
            "t_mention_rooms": [_mention_columns(m.mentions)[1] for m in updates],
            "t_reply_counts": [m.reply_count for m in updates],
            "t_last_reply_ats": [m.last_reply_at for m in updates],
            "t_participant_ids": [_root_participants(m) for m in updates],
            "rm_ids": [i for i, _, _ in plan.reaction_removes],
            "rm_emojis": [e for _, e, _ in plan.reaction_removes],
            "rm_users": [u for _, _, u in plan.reaction_removes],
            # A deleted entry's reactions all go (the planner nets no removals for them).
            "erased_ids": plan.erased,
            "erased_refs": [str(i) for i in plan.erased],
            "put_ids": [i for i, _ in plan.reaction_puts],
            "put_emojis": [mark.emoji for _, mark in plan.reaction_puts],
            "put_users": [mark.user_id for _, mark in plan.reaction_puts],
            "put_seqs": [mark.seq for _, mark in plan.reaction_puts],
            "put_emoji_seqs": [mark.emoji_seq for _, mark in plan.reaction_puts],
            "n_senders": [n.sender_id for n in noops],
            "n_client_ids": [n.client_msg_id for n in noops],
            "n_rooms": [n.room_id for n in noops],
            "n_targets": [n.target_id for n in noops],
            "n_hashes": [n.content_hash for n in noops],
            "n_created_ats": [n.created_at for n in noops],
        },
    )


# The `mentions` rows of the batch's text entries (api-v1.1 B mention_count) and its repliers'
# thread read positions, one statement. Rows of entries whose mentions changed are replaced:
# the ones no longer listed are deleted, the listed ones inserted unless present (disjoint rows,
# as data-modifying CTEs of one statement need). A read position never moves back.
_WRITE_THREADS_MENTIONS = sa.text(
    """
    WITH listed AS (
        SELECT * FROM unnest(
            CAST(:mn_ids AS uuid[]), CAST(:mn_users AS uuid[]), CAST(:mn_rooms AS uuid[]),
            CAST(:mn_seqs AS bigint[]), CAST(:mn_roots AS uuid[])
        ) AS v(message_id, user_id, room_id, seq, thread_root_id)
    ), dropped AS (
        DELETE FROM mentions x
        WHERE x.message_id = ANY(CAST(:replaced_ids AS uuid[]))
          AND NOT EXISTS (
              SELECT 1 FROM listed l WHERE l.message_id = x.message_id AND l.user_id = x.user_id
          )
    ), put AS (
        INSERT INTO mentions (message_id, user_id, room_id, seq, thread_root_id)
        SELECT * FROM listed
        ON CONFLICT (message_id, user_id) DO NOTHING
    )
    INSERT INTO thread_reads (user_id, thread_root_id, room_id, last_read_seq)
    SELECT * FROM unnest(
        CAST(:tr_users AS uuid[]), CAST(:tr_roots AS uuid[]), CAST(:tr_rooms AS uuid[]),
        CAST(:tr_seqs AS bigint[])
    )
    ON CONFLICT (user_id, thread_root_id) DO UPDATE
    SET last_read_seq = GREATEST(thread_reads.last_read_seq, excluded.last_read_seq)
    """
)


async def _write_threads_and_mentions(session: AsyncSession, plan: BatchPlan) -> None:
    rows = plan.mention_rows
    reads = plan.thread_reads
    await session.execute(
        _WRITE_THREADS_MENTIONS,
        {
            "mn_ids": [r[0] for r in rows],
            "mn_users": [r[1] for r in rows],
            "mn_rooms": [r[2] for r in rows],
            "mn_seqs": [r[3] for r in rows],
            "mn_roots": [r[4] for r in rows],
            "replaced_ids": plan.mentions_replaced,
            "tr_users": [user for _, user in reads],
            "tr_roots": [root for root, _ in reads],
            "tr_rooms": [room for room, _ in reads.values()],
            "tr_seqs": [seq for _, seq in reads.values()],
        },
    )


async def display_names(session: AsyncSession, ids: Iterable[UUID]) -> dict[UUID, str]:
    """Display names from the local directory (the text of system entries)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = sa.select(users.c.id, users.c.display_name).where(
        users.c.id == sa.any_(uuid_array("ids", wanted))
    )
    return {row.id: row.display_name for row in await session.execute(stmt)}


async def member_counts(session: AsyncSession, room_ids: Iterable[UUID]) -> dict[UUID, int]:
    """How many members these rooms have (for `@room`, api-v1.1 A)."""
    wanted = sorted(set(room_ids))
    if not wanted:
        return {}
    m = memberships
    stmt = (
        sa.select(m.c.room_id, sa.func.count().label("members"))
        .where(m.c.room_id == sa.any_(uuid_array("rooms", wanted)))
        .group_by(m.c.room_id)
    )
    return {row.room_id: row.members for row in await session.execute(stmt)}
