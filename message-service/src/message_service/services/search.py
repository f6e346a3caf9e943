"""Search over what the caller can read (api-v1.1 D): the page of hits with each message's
current state (reactions and the caller's own, as history gives them) and its highlight."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from message_service.domain.model import Message
from message_service.domain.search import Cursor, highlight_html
from message_service.store import message_reads
from message_service.store import search as search_store
from message_service.store.search import Filters


@dataclass(frozen=True, slots=True)
class Result:
    message: Message
    highlights: str  # escaped HTML, `<mark>` around the matches


@dataclass(frozen=True, slots=True)
class ResultPage:
    results: list[Result]
    next_cursor: Cursor | None
    # The emoji the caller reacted with, per message (REST's `me`).
    mine: dict[UUID, frozenset[str]] = field(default_factory=dict)


async def search(
    session: AsyncSession,
    user_id: UUID,
    q: str,
    *,
    filters: Filters,
    cursor: Cursor | None,
    limit: int,
) -> ResultPage:
    """The `limit` newest matches older than `cursor` in the rooms `user_id` is a member of now
    (a room filter naming another room finds nothing), and the cursor of the next page."""
    hits, more = await search_store.search(session, user_id, q, filters, cursor, limit)
    messages, mine = await message_reads.with_reactions(
        session, [hit.message for hit in hits], user_id
    )
    messages = await message_reads.with_attachments(session, messages)
    results = [
        Result(message, highlight_html(hit.headline))
        for message, hit in zip(messages, hits, strict=True)
    ]
    last = hits[-1].message if hits and more else None
    next_cursor = Cursor(last.created_at, last.id) if last is not None else None
    return ResultPage(results, next_cursor, mine)
