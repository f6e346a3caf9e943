"""History, edits, sending over REST and read positions (api-v1 §4, api-v1.1 A)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from uuid import UUID

from chat_runtime.features import SendShape, send_refusal
from chat_runtime.http import FieldError, Problem, rate_limit
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from message_service.api.deps import (
    CallerId,
    FileLinker,
    Links,
    Settings,
    Uow,
    limited,
    require_features,
)
from message_service.api.responses import EditList, MessageEnvelope, MessagePage, documented
from message_service.domain.model import Message
from message_service.domain.sending import Created, Duplicate, Noop
from message_service.services import reading, sending
from message_service.wire import message_json

router = APIRouter(prefix="/v1/rooms", tags=["messages"])

MAX_SEQ = 2**63 - 1  # PostgreSQL bigint


class SendMessage(BaseModel):
    # Fields this release does not know are kept, so that they are refused (`unsupported`)
    # rather than dropped: a newer client's addition is never stored as a plain message.
    model_config = ConfigDict(extra="allow")

    client_msg_id: UUID
    # Rules (length, blank, required for text entries) are the domain's so REST and WebSocket
    # sends agree; see text.py.
    text: Annotated[str, Field(strict=True)] = ""
    # api-v1.1 A: each refused (unsupported / feature_disabled) unless its feature is
    # implemented and on: `entries` for the kinds edit, delete, reaction and their fields.
    kind: Annotated[
        str | None,
        Field(max_length=64, description="text (default), edit, delete or reaction."),
    ] = None
    target_id: Annotated[
        UUID | None, Field(description="edit, delete, reaction: the text entry to change.")
    ] = None
    emoji: Annotated[
        str | None, Field(max_length=64, description="reaction: one RGI emoji (Emoji 15.1).")
    ] = None
    added: Annotated[
        bool | None, Field(strict=True, description="reaction: true (default) adds, false removes.")
    ] = None
    thread_root_id: Annotated[
        UUID | None,
        Field(description="text: the thread root this entry replies to (feature `threads`)."),
    ] = None
    attachments: Annotated[
        list[UUID] | None,
        Field(
            max_length=10,
            description="text: ids of files the sender uploaded (feature `attachments`), in "
            "the order shown; the text may then be empty.",
        ),
    ] = None

    def refuse_additions(self, settings: Settings) -> None:
        """Raise the problem for an api-v1.1 addition that is not on (422 / 403)."""
        shape = SendShape.named(self.kind, self.model_fields_set, self.model_extra or {})
        refusal = send_refusal(shape, settings.feature_switches)
        if refusal is None:
            return
        status = 403 if refusal.code == "feature_disabled" else 422
        raise Problem(status, refusal.code, refusal.detail)


class ReadPosition(BaseModel):
    seq: Annotated[int, Field(strict=True, ge=0, le=MAX_SEQ)]
    thread_root_id: Annotated[
        UUID | None,
        Field(description="api-v1.1 B: move the read position in this thread instead."),
    ] = None


def _seq(description: str) -> Any:
    # A seq beyond PostgreSQL's bigint is refused by the route, not by the database.
    return Query(ge=0, le=MAX_SEQ, description=description)


def entry_json(
    message: Message,
    mine: Mapping[UUID, frozenset[str]],
    unread: Mapping[UUID, int] | None = None,
    *,
    links: FileLinker,
) -> dict[str, Any]:
    """An entry as REST returns it: the wire object, plus the caller's own fields: `me` on each
    reaction, on a thread root they took part in `thread.unread_replies`, and on each
    attachment `url` and `thumbnail_url` signed for them (api-v1.1 E)."""
    body = message_json(message)
    for file in body.get("attachments", ()):
        file["url"], file["thumbnail_url"] = links.sign(file["id"], file["has_thumbnail"])
    reactions = body.get("reactions")
    if reactions:
        own = mine.get(message.id, frozenset())
        for reaction in reactions:
            reaction["me"] = reaction["emoji"] in own
    thread = body.get("thread")
    if thread is not None and unread is not None and message.id in unread:
        thread["unread_replies"] = unread[message.id]
    return body


def _paging_errors(
    after_seq: int | None, before_seq: int | None, around_seq: int | None, content_only: bool
) -> list[FieldError]:
    """Every rule the paging parameters break together (api-v1.1 A "History paging")."""
    errors: list[FieldError] = []
    if after_seq is not None and before_seq is not None:
        errors.append(
            {
                "field": "before_seq",
                "code": "conflict",
                "message": "Use only one of after_seq and before_seq.",
            }
        )
    if around_seq is not None and (after_seq is not None or before_seq is not None):
        errors.append(
            {
                "field": "around_seq",
                "code": "conflict",
                "message": "around_seq cannot be combined with after_seq or before_seq.",
            }
        )
    if content_only and after_seq is not None:
        errors.append(
            {
                "field": "content_only",
                "code": "conflict",
                "message": "content_only pages go back in time (before_seq or around_seq); "
                "catching up with after_seq always returns every entry.",
            }
        )
    elif content_only and before_seq is None and around_seq is None:
        errors.append(
            {
                "field": "content_only",
                "code": "required_with",
                "message": "content_only needs before_seq or around_seq.",
            }
        )
    return errors


@router.get("/{room_id}/messages", **documented(MessagePage))
async def history(
    room_id: UUID,
    user: CallerId,
    uow: Uow,
    links: Links,
    after_seq: Annotated[int | None, _seq("Entries above this seq, ascending (catch-up).")] = None,
    before_seq: Annotated[int | None, _seq("The `limit` entries below this seq.")] = None,
    around_seq: Annotated[
        int | None, _seq("`limit` entries centred on this seq (limit // 2 before it).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    content_only: Annotated[
        bool,
        Query(
            description="With before_seq or around_seq: only text entries, and the range "
            "covered (covered_from_seq, covered_to_seq)."
        ),
    ] = False,
) -> dict[str, Any]:
    """`after_seq`: the next page forward (every entry); `before_seq`: the page before;
    `around_seq`: `limit` entries centred on it (limit // 2 before, the rest from it up);
    neither: the newest. `content_only=true` (with before_seq or around_seq): only `text`
    entries, and the seq range the page covers."""
    errors = _paging_errors(after_seq, before_seq, around_seq, content_only)
    if errors:
        raise Problem(422, "validation_failed", errors[0]["message"], errors=errors)
    async with uow as session:
        page = await reading.history(
            session,
            room_id,
            user,
            after_seq=after_seq,
            before_seq=before_seq,
            around_seq=around_seq,
            limit=limit,
            content_only=content_only,
        )
    body: dict[str, Any] = {
        "messages": [entry_json(m, page.mine, page.unread, links=links) for m in page.messages],
        "has_more": page.has_more,
    }
    if page.has_more_after is not None:
        body["has_more_before"] = page.has_more
        body["has_more_after"] = page.has_more_after
    if page.covered is not None:
        body["covered_from_seq"], body["covered_to_seq"] = page.covered
    return body


@router.get("/{room_id}/messages/{message_id}/edits", **documented(EditList))
async def edits(room_id: UUID, message_id: UUID, user: CallerId, uow: Uow) -> dict[str, Any]:
    """The edits of a text entry, in seq order (visible to every member)."""
    async with uow as session:
        rows = await reading.edits(session, room_id, user, message_id)
    return {"edits": [message_json(m) for m in rows]}


async def _send_once(
    session: AsyncSession, room_id: UUID, user: UUID, body: SendMessage, *, mentions_on: bool
) -> Created | Duplicate | Noop:
    return await sending.send_one(
        session,
        room_id,
        user,
        body.client_msg_id,
        body.text,
        kind=body.kind or "text",
        target_id=body.target_id,
        emoji=body.emoji,
        added=body.added,
        thread_root_id=body.thread_root_id,
        mentions_on=mentions_on,
        attachments=body.attachments,
    )


@router.post(
    "/{room_id}/messages",
    status_code=201,
    **limited(rate_limit.MESSAGE_SEND, documented(MessageEnvelope, 201, 200)),
)
async def send(
    room_id: UUID, body: SendMessage, user: CallerId, uow: Uow, settings: Settings, links: Links
) -> JSONResponse:
    """201 with the new entry; 200 with the first one for a repeat of a committed send; 200
    with the current target and `noop: true` for a reaction that changes nothing."""
    body.refuse_additions(settings)
    mentions_on = "mentions" in settings.feature_switches.on
    try:
        async with uow as session:
            outcome = await _send_once(session, room_id, user, body, mentions_on=mentions_on)
            entries, mine = await reading.with_state(session, [outcome.message], user)
    except IntegrityError:
        # The same client_msg_id was committed concurrently by another transaction (another
        # room): decide again now that it is visible - a duplicate or client_msg_id_reused.
        async with uow as session:
            outcome = await _send_once(session, room_id, user, body, mentions_on=mentions_on)
            entries, mine = await reading.with_state(session, [outcome.message], user)
    answer: dict[str, Any] = {"message": entry_json(entries[0], mine, links=links)}
    if isinstance(outcome, Noop):
        answer["noop"] = True
    status = 201 if isinstance(outcome, Created) else 200
    return JSONResponse(answer, status_code=status)


@router.post("/{room_id}/read", status_code=204)
async def read(
    room_id: UUID, body: ReadPosition, user: CallerId, uow: Uow, settings: Settings
) -> Response:
    """Move the caller's read position (never back, at most the room's last seq): the room's,
    or with `thread_root_id` the one in that thread (api-v1.1 B)."""
    if body.thread_root_id is not None:
        require_features(settings.feature_switches, "threads")
    async with uow as session:
        await reading.mark_read_checked(session, room_id, user, body.seq, body.thread_root_id)
    return Response(status_code=204)
