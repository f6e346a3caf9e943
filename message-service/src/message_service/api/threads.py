"""Threads (api-v1.1 A): a thread root with a page of its replies."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from message_service.api.deps import CallerId, Links, Settings, Uow, require_features
from message_service.api.messages import MAX_SEQ, entry_json
from message_service.api.responses import ThreadPage, documented
from message_service.services import reading

router = APIRouter(prefix="/v1/rooms", tags=["threads"])


@router.get("/{room_id}/threads/{root_id}", **documented(ThreadPage))
async def thread(
    room_id: UUID,
    root_id: UUID,
    user: CallerId,
    uow: Uow,
    settings: Settings,
    links: Links,
    after_seq: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="Replies above this seq, ascending.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The root (a tombstone once deleted) and its replies above `after_seq` in seq order, and
    whether more follow. 404 when the root is not a top-level text entry of the room."""
    require_features(settings.feature_switches, "threads")
    async with uow as session:
        found = await reading.thread(
            session, room_id, user, root_id, after_seq=after_seq, limit=limit
        )
    return {
        "root": entry_json(found.root, found.mine, found.unread, links=links),
        "replies": [entry_json(m, found.mine, links=links) for m in found.replies],
        "has_more": found.has_more,
    }
