"""api-v1 `message` and `room` objects built from domain values.

The `message` object is the contract's `Message` struct: events carry it as is, and REST
returns the same fields (`message_json`), so both serialise it one way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from chat_contracts import types

from message_service.domain.model import FileInfo, Message, RoomView


def timestamp(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds and `Z`, as api-v1 §2 shows."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_struct(message: Message) -> types.Message:
    """The contract's `message`: a `text` entry with its current state (api-v1.1 A: always
    `edited_at`, `deleted`, `reactions`, `state_seq`; a reply its `thread_root_id`, a thread
    root its `thread` summary, `mentions` when it has some, `attachments` when it carries
    files), a change entry with its target (and
    the edit's text and `mentions`, the reaction's emoji and `added`), a system entry with its
    event."""
    kind = message.kind
    extra: dict[str, Any] = {}
    if kind == "text":
        extra["edited_at"] = timestamp(message.edited_at) if message.edited_at is not None else None
        extra["deleted"] = message.deleted
        extra["reactions"] = [
            types.Reaction(emoji=r.emoji, count=r.count, user_ids=[str(u) for u in r.user_ids])
            for r in message.reactions
        ]
        extra["state_seq"] = message.current_seq
        if message.thread_root_id is not None:
            extra["thread_root_id"] = str(message.thread_root_id)
        elif message.last_reply_at is not None:
            # A thread root: every top-level entry that has had a reply (api-v1.1 A).
            extra["thread"] = types.ThreadSummary(
                reply_count=message.reply_count,
                last_reply_at=timestamp(message.last_reply_at),
                participant_ids=[str(u) for u in message.participant_ids],
            )
        if message.attachments:
            # api-v1.1 E: the files, without links (links are per user: REST adds them).
            extra["attachments"] = [file_struct(f) for f in message.attachments]
    mentions = message.mentions
    # A text entry carries its mentions when it has some; an edit entry the ones it gives its
    # target, empty ones included (a client replaces the target's with them).
    if mentions is not None and (mentions or kind == "edit"):
        extra["mentions"] = types.Mentions(
            user_ids=[str(u) for u in mentions.user_ids], room=mentions.room
        )
    if message.target_id is not None:
        extra["target_id"] = str(message.target_id)
        if message.thread_root_id is not None:
            # The delete of a reply names the reply's thread (its root counts one reply less).
            extra["thread_root_id"] = str(message.thread_root_id)
    # Absent rather than null where the contract wants a value (the planner always sets them).
    if kind == "reaction":
        if message.emoji is not None:
            extra["emoji"] = message.emoji
        extra["added"] = message.added is not False
    elif kind == "system":
        if message.event is not None:
            extra["event"] = message.event
        extra["actor_id"] = str(message.actor_id or message.sender_id)
        extra["subject_id"] = str(message.subject_id) if message.subject_id else None
        extra["value"] = message.value
    return types.Message(
        id=str(message.id),
        room_id=str(message.room_id),
        seq=message.seq,
        kind=kind,
        sender_id=str(message.sender_id),
        text=message.text,
        client_msg_id=str(message.client_msg_id),
        created_at=timestamp(message.created_at),
        **extra,
    )


def file_struct(file: FileInfo) -> types.File:
    """The contract's `file` without `url`/`thumbnail_url` (the bus and frames reach many
    users; REST answers add links signed for their caller)."""
    return types.File(
        id=str(file.id),
        name=file.name,
        size=file.size,
        content_type=file.content_type,
        sha256=file.sha256,
        width=file.width,
        height=file.height,
        has_thumbnail=file.has_thumbnail,
        purpose="avatar" if file.purpose == "avatar" else "attachment",
        created_at=timestamp(file.created_at),
        uploader_id=str(file.uploader_id),
    )


def message_json(message: Message) -> dict[str, Any]:
    """The REST body of a message: the same fields, in the same order, as the struct."""
    body: dict[str, Any] = msgspec.to_builtins(message_struct(message))
    return body


def room_json(view: RoomView) -> dict[str, Any]:
    """The api-v1 `room` as one user sees it; channels add `topic`, `archived` and the
    caller's `my_role` (api-v1.1 C), direct rooms leave all three out."""
    room = view.room
    body: dict[str, Any] = {
        "id": str(room.id),
        "kind": room.kind,
        "name": room.name,
        "visibility": room.visibility,
        "created_by": str(room.created_by),
        "created_at": timestamp(room.created_at),
        "last_seq": room.last_seq,
        "last_read_seq": view.last_read_seq,
        "unread_count": view.unread_count,
        "member_count": view.member_count,
        "mention_count": view.mention_count,
        "notify": view.notify,
    }
    if room.kind == "channel":
        body["topic"] = room.topic
        body["archived"] = room.archived
        body["my_role"] = view.my_role or "member"
    return body
