"""The api-v1 response bodies of message-service, declared for the OpenAPI document.

The routes build their bodies with `wire.py` (the same bytes as the `Message` contract), so these
models only document them: `documented(...)` puts a model in the OpenAPI responses without making
FastAPI validate or re-serialise what the route returns (api-v1 bodies stay byte-for-byte as they
are). The frontend's REST types are generated from the resulting document.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class RoomOut(BaseModel):
    id: str
    kind: Literal["channel", "direct"]
    name: str | None
    visibility: Literal["public", "private"]
    created_by: str
    created_at: str
    last_seq: int
    last_read_seq: int
    unread_count: int
    member_count: int


class RoomEnvelope(BaseModel):
    room: RoomOut


class RoomList(BaseModel):
    rooms: list[RoomOut]


class MemberOut(BaseModel):
    user_id: str
    joined_at: str
    last_read_seq: int


class MemberList(BaseModel):
    members: list[MemberOut]


class MessageOut(BaseModel):
    id: str
    room_id: str
    seq: int
    kind: str
    sender_id: str
    text: str
    client_msg_id: str
    created_at: str


class MessageEnvelope(BaseModel):
    message: MessageOut


class MessagePage(BaseModel):
    messages: list[MessageOut]
    has_more: bool


def documented(model: type[BaseModel], *statuses: int) -> dict[str, Any]:
    """Route keyword arguments: `model` is the body for `statuses` (default 200), for docs only."""
    return {
        "response_model": None,
        "responses": {status: {"model": model} for status in statuses or (200,)},
    }
