"""The search query (api-v1.1 D, ADR 0010): the caller's rooms at query time, the partial GIN
index `messages_search` (migration 0004), newest first by `(created_at, id)`, and `ts_headline`
for the returned page only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.model import Message
from message_service.domain.search import LT, MARK_END, MARK_START, RESERVED, Cursor
from message_service.store.tables import memberships, message_of, messages, uuid_array

CONFIG = "chat_english"
ROOM_IDS = pg.ARRAY(pg.UUID(as_uuid=True))
# Exactly the expression of the index (migration 0004): `<` becomes a space so that the parser
# does not swallow `<b>` or `<script>` as tags (their words stay searchable).
SEARCH_VECTOR: sa.ColumnElement[Any] = sa.literal_column(
    f"to_tsvector('{CONFIG}'::regconfig, replace(messages.text, '<', ' '))"
)
# The index's predicate, as inline literals: a generic (prepared) plan can use a partial index
# only when its predicate is implied by constants of the query.
INDEXED: sa.ColumnElement[bool] = sa.literal_column(
    "messages.kind = 'text' AND NOT messages.deleted"
)

# Short messages come back whole; long ones as up to two fragments around the matches.
WHOLE_UP_TO = 400
_MARKERS = f"StartSel={MARK_START}, StopSel={MARK_END}"
WHOLE = f"{_MARKERS}, HighlightAll=true"
FRAGMENTS = f'{_MARKERS}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'


@dataclass(frozen=True, slots=True)
class Filters:
    room_id: UUID | None = None
    sender_id: UUID | None = None
    after: datetime | None = None  # created_at >= after
    before: datetime | None = None  # created_at < before


@dataclass(frozen=True, slots=True)
class Hit:
    message: Message
    headline: str  # ts_headline's output, markers and all (domain.search.highlight_html)


def tsquery(q: sa.ColumnElement[str]) -> sa.ColumnElement[Any]:
    return sa.func.websearch_to_tsquery(sa.literal_column(f"'{CONFIG}'::regconfig"), q)


def search_statement(
    room_ids: Sequence[UUID], q: str, filters: Filters, cursor: Cursor | None, limit: int
) -> sa.Select[Any]:
    """One statement: the `limit` newest matches (plus one, to know whether more exist) in
    `room_ids` (the caller's rooms), each with its headline.

    The rooms are a bound array, not a subquery: with a custom plan (see `search`) the planner
    knows how many rooms and which words, and picks between the GIN index (rare words) and the
    newest-first scan of `messages_search_recent` (words in a large share of the messages)."""
    query = tsquery(sa.bindparam("q", q, type_=sa.Text))
    conditions: list[sa.ColumnElement[bool]] = [
        # (cast: so that a literal rendering, as EXPLAIN in tests takes it, is typed too)
        messages.c.room_id == sa.any_(sa.cast(uuid_array("room_ids", room_ids), ROOM_IDS)),
        INDEXED,
        SEARCH_VECTOR.op("@@")(query),
    ]
    if filters.sender_id is not None:
        conditions.append(messages.c.sender_id == filters.sender_id)
    if filters.after is not None:
        conditions.append(messages.c.created_at >= filters.after)
    if filters.before is not None:
        conditions.append(messages.c.created_at < filters.before)
    if cursor is not None:
        conditions.append(
            sa.tuple_(messages.c.created_at, messages.c.id)
            < sa.tuple_(
                sa.literal(cursor.created_at, sa.DateTime(timezone=True)),
                sa.literal(cursor.id, messages.c.id.type),
            )
        )
    page = (
        sa.select(messages)
        .where(*conditions)
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(limit + 1)
        .subquery("page")
    )
    # The headline of a copy whose reserved characters are gone and whose `<` is `LT`.
    shown = sa.func.replace(
        sa.func.translate(page.c.text, sa.literal(RESERVED), sa.literal("")),
        sa.literal("<"),
        sa.literal(LT),
    )
    options = sa.case(
        (sa.func.length(page.c.text) <= WHOLE_UP_TO, sa.literal(WHOLE)),
        else_=sa.literal(FRAGMENTS),
    )
    headline = sa.func.ts_headline(
        sa.literal_column(f"'{CONFIG}'::regconfig"), shown, query, options
    ).label("headline")
    return sa.select(page, headline).order_by(page.c.created_at.desc(), page.c.id.desc())


async def rooms_of(session: AsyncSession, user_id: UUID, room_id: UUID | None) -> list[UUID]:
    """The rooms `user_id` is a member of now (only `room_id`, when given and one of them)."""
    stmt = sa.select(memberships.c.room_id).where(memberships.c.user_id == user_id)
    if room_id is not None:
        stmt = stmt.where(memberships.c.room_id == room_id)
    return list((await session.execute(stmt)).scalars())


async def search(
    session: AsyncSession,
    user_id: UUID,
    q: str,
    filters: Filters,
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[Hit], bool]:
    """Up to `limit` hits, newest first, and whether more exist. Call inside a transaction."""
    room_ids = await rooms_of(session, user_id, filters.room_id)
    if not room_ids:
        return [], False
    # Plan with the actual words and rooms every time: a generic plan of the prepared statement
    # would guess the same share of matching rows for every word (ADR 0010).
    # No JIT and no parallel workers either: starting them costs more than these short queries
    # take (a LIMIT 21 over an index), and the planner's guess of the rows to scan is rough.
    await session.execute(
        sa.text(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
            " set_config('jit', 'off', true),"
            " set_config('max_parallel_workers_per_gather', '0', true)"
        )
    )
    rows = list(await session.execute(search_statement(room_ids, q, filters, cursor, limit)))
    hits = [Hit(message_of(row), row.headline) for row in rows[:limit]]
    return hits, len(rows) > limit
