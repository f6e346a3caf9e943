"""Rooms and memberships (api-v1 §4): thin routes over the use cases."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from chat_runtime.http import rate_limit
from chat_runtime.text import refuse_invisible_names
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, field_validator, model_validator
from pydantic_core import PydanticCustomError

from message_service.api.deps import CallerId, Settings, Uow, limited, require_features
from message_service.api.responses import MemberList, RoomEnvelope, RoomList, documented
from message_service.domain.notify import NotifyLevel
from message_service.domain.room_roles import RoomRole, topic_problem
from message_service.domain.text import name_problem
from message_service.services import room_admin
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


class UpdateRoom(BaseModel):
    """`PATCH /v1/rooms/{id}`: at least one of `name` (the rules of creation) and `topic` (at
    most 250 characters, trimmed; "" or null clears it)."""

    name: str | None = None
    topic: str | None = None

    @field_validator("name")
    @classmethod
    def _name_rules(cls, value: str | None) -> str | None:
        if value is None:
            raise PydanticCustomError("invalid_name", "Give the room a name.")
        problem = name_problem(value)
        if problem is not None:
            raise PydanticCustomError("invalid_name", problem)
        return value.strip()

    @field_validator("topic")
    @classmethod
    def _topic_rules(cls, value: str | None) -> str | None:
        problem = topic_problem(value) if value is not None else None
        if problem is not None:
            raise PydanticCustomError("invalid_topic", problem)
        return value

    @model_validator(mode="after")
    def _something(self) -> UpdateRoom:
        if not self.model_fields_set & {"name", "topic"}:
            raise PydanticCustomError("missing", "Give a new name or topic.")
        return self


class RoleChange(BaseModel):
    role: RoomRole


class AddMember(BaseModel):
    user_id: UUID | None = None


class NotifySetting(BaseModel):
    notify: NotifyLevel


@router.post("", status_code=201, **limited(rate_limit.ROOM_CREATE, documented(RoomEnvelope, 201)))
async def create_room(body: CreateRoom, user: CallerId, uow: Uow) -> dict[str, Any]:
    refuse_invisible_names(name=body.name)  # api-v1.1 F, one error per rule
    async with uow as session:
        view = await room_service.create_room(session, user, body.name, body.visibility)
    return {"room": room_json(view)}


@router.get("", **documented(RoomList))
async def my_rooms(user: CallerId, uow: Uow) -> dict[str, Any]:
    async with uow as session:
        views = await room_queries.rooms_of_user(session, user)
    return {"rooms": [room_json(v) for v in views]}


@router.get("/public", **limited(rate_limit.ROOM_DIRECTORY, documented(RoomList)))
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


# One action for joining and for adding someone: both grow a room's membership (and its fan-out).
@router.post("/{room_id}/members", **limited(rate_limit.ROOM_JOIN, documented(RoomEnvelope)))
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
            {
                "user_id": str(uid),
                "joined_at": timestamp(joined),
                "last_read_seq": read,
                "role": role,
            }
            for uid, joined, read, role in rows
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


@router.patch("/{room_id}", **documented(RoomEnvelope))
async def update_room(
    room_id: UUID, body: UpdateRoom, user: CallerId, uow: Uow, settings: Settings
) -> dict[str, Any]:
    """Rename a channel and/or set its topic (room admins; api-v1.1 C). Refused in direct
    rooms (403) and archived rooms (403 `archived`). An unchanged value makes no entry."""
    require_features(settings.feature_switches, "rooms")
    refuse_invisible_names(name=body.name)  # api-v1.1 F, one error per rule
    topic = body.topic if "topic" in body.model_fields_set else room_admin.UNCHANGED
    async with uow as session:
        view = await room_admin.update_room(
            session, room_id, user, name=body.name, topic=topic, features=settings.feature_switches
        )
    return {"room": room_json(view)}


@router.post("/{room_id}/archive", **documented(RoomEnvelope))
async def archive(room_id: UUID, user: CallerId, uow: Uow, settings: Settings) -> dict[str, Any]:
    """Archive a channel (room admins): it becomes read-only; its history stays readable."""
    return await _set_archived(room_id, user, uow, settings, archived=True)


@router.post("/{room_id}/unarchive", **documented(RoomEnvelope))
async def unarchive(room_id: UUID, user: CallerId, uow: Uow, settings: Settings) -> dict[str, Any]:
    """Unarchive a channel (room admins)."""
    return await _set_archived(room_id, user, uow, settings, archived=False)


async def _set_archived(
    room_id: UUID, user: UUID, uow: Any, settings: Any, *, archived: bool
) -> dict[str, Any]:
    require_features(settings.feature_switches, "rooms")
    async with uow as session:
        view = await room_admin.set_archived(
            session, room_id, user, archived, features=settings.feature_switches
        )
    return {"room": room_json(view)}


@router.delete("/{room_id}/members/{user_id}", status_code=204)
async def remove_member(
    room_id: UUID, user_id: UUID, user: CallerId, uow: Uow, settings: Settings
) -> Response:
    """Remove a member (room admins; api-v1.1 C): their sessions stop receiving the room and the
    room is 404 to them. Yourself: you leave. 404 `not_a_member` when they are not in the room,
    409 `last_room_admin` for the last room admin."""
    require_features(settings.feature_switches, "rooms")
    async with uow as session:
        await room_admin.remove_member(
            session, room_id, user, user_id, features=settings.feature_switches
        )
    return Response(status_code=204)


@router.post("/{room_id}/members/{user_id}/role", **documented(RoomEnvelope))
async def set_role(
    room_id: UUID, user_id: UUID, body: RoleChange, user: CallerId, uow: Uow, settings: Settings
) -> dict[str, Any]:
    """Make a member a room admin or a plain member (room admins); 409 `last_room_admin` when
    it would leave the channel without one. The room as the caller sees it."""
    require_features(settings.feature_switches, "rooms")
    async with uow as session:
        view = await room_admin.set_role(
            session, room_id, user, user_id, body.role, features=settings.feature_switches
        )
    return {"room": room_json(view)}
