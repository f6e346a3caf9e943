"""Direct conversations (api-v1 §4): one room per pair of users."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from message_service.api.deps import CallerId, Settings, Uow
from message_service.api.responses import RoomEnvelope, documented
from message_service.services import direct_rooms
from message_service.wire import room_json

router = APIRouter(prefix="/v1/dms", tags=["dms"])


class OpenDirect(BaseModel):
    user_id: UUID


@router.post("", **documented(RoomEnvelope))
async def open_direct(
    body: OpenDirect, user: CallerId, uow: Uow, settings: Settings
) -> dict[str, Any]:
    async with uow as session:
        view = await direct_rooms.open_direct(
            session, user, body.user_id, user_wait_s=settings.user_wait_s
        )
    return {"room": room_json(view)}
