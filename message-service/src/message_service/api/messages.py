"""History, sending over REST and read positions (api-v1 §4)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from chat_runtime.http import Problem
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from message_service.api.deps import CallerId, Uow
from message_service.api.responses import MessageEnvelope, MessagePage, documented
from message_service.domain.sending import Created
from message_service.services import reading, sending
from message_service.wire import message_json

router = APIRouter(prefix="/v1/rooms", tags=["messages"])


class SendMessage(BaseModel):
    client_msg_id: UUID
    # Rules (length, blank) are the domain's so REST and WebSocket sends agree; see text.py.
    text: Annotated[str, Field(strict=True)]


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
async def send(room_id: UUID, body: SendMessage, user: CallerId, uow: Uow) -> JSONResponse:
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
