"""History, sending over REST and read positions (api-v1 §4)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from chat_runtime.features import SendShape, send_refusal
from chat_runtime.http import Problem
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from message_service.api.deps import CallerId, Settings, Uow
from message_service.api.responses import MessageEnvelope, MessagePage, documented
from message_service.domain.sending import Created
from message_service.services import reading, sending
from message_service.wire import message_json

router = APIRouter(prefix="/v1/rooms", tags=["messages"])


class SendMessage(BaseModel):
    # Fields this release does not know are kept, so that they are refused (`unsupported`)
    # rather than dropped: a newer client's addition is never stored as a plain message.
    model_config = ConfigDict(extra="allow")

    client_msg_id: UUID
    # Rules (length, blank, required for text entries) are the domain's so REST and WebSocket
    # sends agree; see text.py.
    text: Annotated[str, Field(strict=True)] = ""
    # api-v1.1 A: accepted in the body, refused until their feature is implemented and on.
    kind: Annotated[str | None, Field(max_length=64)] = None
    target_id: UUID | None = None
    emoji: Annotated[str | None, Field(max_length=64)] = None
    added: bool | None = None
    thread_root_id: UUID | None = None
    attachments: Annotated[list[UUID] | None, Field(max_length=10)] = None

    def refuse_additions(self, settings: Settings) -> None:
        """Raise the problem for an api-v1.1 addition that is not on (422 / 403)."""
        shape = SendShape.named(self.kind, self.model_fields_set, self.model_extra or {})
        refusal = send_refusal(shape, settings.feature_switches)
        if refusal is None:
            return
        status = 403 if refusal.code == "feature_disabled" else 422
        raise Problem(status, refusal.code, refusal.detail)


class ReadPosition(BaseModel):
    seq: Annotated[int, Field(strict=True, ge=0)]


@router.get("/{room_id}/messages", **documented(MessagePage))
async def history(
    room_id: UUID,
    user: CallerId,
    uow: Uow,
    after_seq: Annotated[int | None, Query(ge=0)] = None,
    before_seq: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """`after_seq`: the next page forward; `before_seq`: the page before; neither: the newest."""
    if after_seq is not None and before_seq is not None:
        raise Problem(
            422,
            "validation_failed",
            "Give either after_seq or before_seq, not both.",
            errors=[
                {
                    "field": "before_seq",
                    "code": "conflict",
                    "message": "Use only one of after_seq and before_seq.",
                }
            ],
        )
    async with uow as session:
        rows, has_more = await reading.history(
            session, room_id, user, after_seq=after_seq, before_seq=before_seq, limit=limit
        )
    return {"messages": [message_json(m) for m in rows], "has_more": has_more}


@router.post("/{room_id}/messages", status_code=201, **documented(MessageEnvelope, 201, 200))
async def send(
    room_id: UUID, body: SendMessage, user: CallerId, uow: Uow, settings: Settings
) -> JSONResponse:
    body.refuse_additions(settings)
    try:
        async with uow as session:
            outcome = await sending.send_one(session, room_id, user, body.client_msg_id, body.text)
    except IntegrityError:
        # The same client_msg_id was committed concurrently by another transaction (another
        # room): decide again now that it is visible - a duplicate or client_msg_id_reused.
        async with uow as session:
            outcome = await sending.send_one(session, room_id, user, body.client_msg_id, body.text)
    status = 201 if isinstance(outcome, Created) else 200
    return JSONResponse({"message": message_json(outcome.message)}, status_code=status)


@router.post("/{room_id}/read", status_code=204)
async def read(room_id: UUID, body: ReadPosition, user: CallerId, uow: Uow) -> Response:
    async with uow as session:
        await reading.mark_read_checked(session, room_id, user, body.seq)
    return Response(status_code=204)
