"""GET /v1/search (api-v1.1 D): full-text search over the text entries of the caller's rooms."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from chat_runtime.features import Features
from chat_runtime.http import Problem, rate_limit
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from message_service.api.deps import CallerId, Links, Settings, Uow, limited
from message_service.api.messages import entry_json
from message_service.api.responses import MessageOut, documented
from message_service.domain.search import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    Cursor,
    InvalidCursor,
    query_problem,
)
from message_service.services import search as search_service
from message_service.store.search import Filters

router = APIRouter(prefix="/v1/search", tags=["search"])

FEATURE = "search"


class SearchResult(BaseModel):
    message: MessageOut = Field(description="The text entry with its current state.")
    room_id: str
    highlights: str = Field(
        description="The message text (or up to two fragments of a long one) as HTML: "
        "everything escaped, `<mark>` around the matches, no other tag."
    )


class SearchPage(BaseModel):
    results: list[SearchResult] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null: no more."
    )


def search_features(settings: Settings) -> Features:
    """The features that are on (a dependency, so a test can switch `search` on whatever this
    release's default is)."""
    return settings.feature_switches


def _invalid(field: str, code: str, message: str) -> Problem:
    return Problem(
        422,
        "validation_failed",
        message,
        errors=[{"field": field, "code": code, "message": message}],
    )


@router.get("", **limited(rate_limit.SEARCH, documented(SearchPage)))
async def search(
    user: CallerId,
    uow: Uow,
    links: Links,
    features: Annotated[Features, Depends(search_features)],
    q: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_CHARS * 4,  # the exact limit is checked below, as a field error
            description='Web-search syntax: words, "a phrase", `or`, `-word`. Case- and '
            "accent-insensitive; English words match their other forms.",
        ),
    ],
    room_id: Annotated[UUID | None, Query(description="Only this room.")] = None,
    sender: Annotated[UUID | None, Query(alias="from", description="Only this sender.")] = None,
    after: Annotated[AwareDatetime | None, Query(description="created_at >= after.")] = None,
    before: Annotated[AwareDatetime | None, Query(description="created_at < before.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=256, description="next_cursor of the page before.")
    ] = None,
) -> dict[str, Any]:
    """Text entries of the rooms the caller is a member of now, newest first; deleted ones never,
    edited ones by their current text."""
    refusal = features.refusal([FEATURE])
    if refusal is not None:
        raise Problem(
            403 if refusal.code == "feature_disabled" else 422, refusal.code, refusal.detail
        )
    problem = query_problem(q)
    if problem is not None:
        raise _invalid("q", "invalid", problem)
    position = None
    if cursor is not None:
        try:
            position = Cursor.decode(cursor)
        except InvalidCursor as exc:
            raise _invalid(
                "cursor", "invalid", "This cursor does not belong to a search page."
            ) from exc
    filters = Filters(room_id=room_id, sender_id=sender, after=after, before=before)
    async with uow as session:
        page = await search_service.search(
            session, user, q, filters=filters, cursor=position, limit=limit
        )
    return {
        "results": [
            {
                "message": entry_json(result.message, page.mine, links=links),
                "room_id": str(result.message.room_id),
                "highlights": result.highlights,
            }
            for result in page.results
        ],
        "next_cursor": page.next_cursor.encode() if page.next_cursor is not None else None,
    }
