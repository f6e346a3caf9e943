"""Direct conversations (api-v1 §4, api-v1.1 C): the one room of a set of users."""

from __future__ import annotations

from typing import Annotated, Any, Self
from uuid import UUID

from chat_runtime.http import rate_limit
from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from message_service.api.deps import CallerId, Settings, Uow, limited, require_features
from message_service.api.responses import RoomEnvelope, documented
from message_service.services import direct_rooms
from message_service.wire import room_json

router = APIRouter(prefix="/v1/dms", tags=["dms"])

# The caller may list themselves beside the 8 others (they are left out).
USER_IDS_MAX = direct_rooms.GROUP_OTHERS_MAX + 1


class OpenDirect(BaseModel):
    """`{user_id}` (v1: one other person) or `{user_ids}` (api-v1.1 C: 2 to 8 others)."""

    user_id: UUID | None = None
    user_ids: (
        Annotated[
            list[UUID], Field(min_length=direct_rooms.GROUP_OTHERS_MIN, max_length=USER_IDS_MAX)
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.user_id is None) == (self.user_ids is None):
            raise PydanticCustomError(
                "one_of",
                "Give either user_id (one person) or user_ids (2 to 8 people), not both.",
            )
        return self

    @field_validator("user_ids")
    @classmethod
    def _each_once(cls, value: list[UUID] | None) -> list[UUID] | None:
        if value is not None and len(set(value)) != len(value):
            raise PydanticCustomError("duplicate", "List each person once.")
        return value


@router.post("", **limited(rate_limit.DM_OPEN, documented(RoomEnvelope)))
async def open_direct(
    body: OpenDirect, user: CallerId, uow: Uow, settings: Settings
) -> dict[str, Any]:
    if body.user_ids is not None:
        require_features(settings.feature_switches, "rooms")
        others = direct_rooms.group_others(user, body.user_ids)
        async with uow as session:
            view = await direct_rooms.open_group(
                session, user, others, user_wait_s=settings.user_wait_s
            )
    else:
        assert body.user_id is not None  # the validator asks for one of the two
        async with uow as session:
            view = await direct_rooms.open_direct(
                session, user, body.user_id, user_wait_s=settings.user_wait_s
            )
    return {"room": room_json(view)}
