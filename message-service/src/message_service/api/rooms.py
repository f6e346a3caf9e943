"""Rooms and memberships (api-v1 §4): thin routes over the use cases."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, field_validator
from pydantic_core import PydanticCustomError

from message_service.api.deps import CallerId, Settings, Uow, require_features
from message_service.api.responses import MemberList, RoomEnvelope, RoomList, documented
from message_service.domain.notify import NotifyLevel
from message_service.domain.text import name_problem
from message_service.services import rooms as room_service
from message_service.store import room_queries
from message_service.wire import room_json, timestamp

router = APIRouter(prefix="/v1/rooms", tags=["rooms"])


class CreateRoom(BaseModel):
    name: str
    visibility: Literal["public", "private"]

    @field_validator("name")
    @classmethod
    def _name_rules(cls, value: str) -> str:
        problem = name_problem(value)
        if problem is not None:
            raise PydanticCustomError("invalid_name", problem)
        return value.strip()


class AddMember(BaseModel):
    user_id: UUID | None = None


class NotifySetting(BaseModel):
    notify: NotifyLevel


@router.post("", status_code=201, **documented(RoomEnvelope, 201))
async def create_room(body: CreateRoom, user: CallerId, uow: Uow) -> dict[str, Any]:
    async with uow as session:
        view = await room_service.create_room(session, user, body.name, body.visibility)
    return {"room": room_json(view)}


@router.get("", **documented(RoomList))
async def my_rooms(user: CallerId, uow: Uow) -> dict[str, Any]:
    async with uow as session:
        views = await room_queries.rooms_of_user(session, user)
    return {"rooms": [room_json(v) for v in views]}


@router.get("/public", **documented(RoomList))
async def public_rooms(
    user: CallerId,
    uow: Uow,
    q: Annotated[str, Query(max_length=80)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    async with uow as session:
        views = await room_queries.public_rooms(session, user, q.strip(), limit)
    return {"rooms": [room_json(v) for v in views]}


@router.get("/{room_id}", **documented(RoomEnvelope))
async def get_room(room_id: UUID, user: CallerId, uow: Uow) -> dict[str, Any]:
    async with uow as session:
        view = await room_service.get_room(session, room_id, user)
    return {"room": room_json(view)}


@router.post("/{room_id}/members", **documented(RoomEnvelope))
async def add_member(
    room_id: UUID, user: CallerId, uow: Uow, settings: Settings, body: AddMember | None = None
) -> dict[str, Any]:
    invitee = body.user_id if body is not None else None
    async with uow as session:
        view = await room_service.add_member(
            session,
            room_id,
            user,
            invitee,
            user_wait_s=settings.user_wait_s,
            features=settings.feature_switches,
        )
    return {"room": room_json(view)}


@router.delete("/{room_id}/members/me", status_code=204)
async def leave(room_id: UUID, user: CallerId, uow: Uow, settings: Settings) -> Response:
    async with uow as session:
        await room_service.leave_room(session, room_id, user, features=settings.feature_switches)
    return Response(status_code=204)


@router.get("/{room_id}/members", **documented(MemberList))
async def list_members(room_id: UUID, user: CallerId, uow: Uow) -> dict[str, Any]:
    async with uow as session:
        rows = await room_service.list_members(session, room_id, user)
    return {
        "members": [
            {"user_id": str(uid), "joined_at": timestamp(joined), "last_read_seq": read}
            for uid, joined, read in rows
        ]
    }


@router.put("/{room_id}/notify", status_code=204)
async def set_notify(
    room_id: UUID, body: NotifySetting, user: CallerId, uow: Uow, settings: Settings
) -> Response:
    """The caller's notify level for a room they are a member of: `all`, `mentions` or `none`
    (api-v1.1 B). Their other sessions get `room.updated`."""
    require_features(settings.feature_switches, "mentions")
    async with uow as session:
        await room_service.set_notify(session, room_id, user, body.notify)
    return Response(status_code=204)
