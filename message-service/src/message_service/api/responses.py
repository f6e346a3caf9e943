"""The api-v1 response bodies of message-service, declared for the OpenAPI document.

The routes build their bodies with `wire.py` (the same bytes as the `Message` contract), so these
models only document them: `documented(...)` puts a model in the OpenAPI responses without making
FastAPI validate or re-serialise what the route returns (api-v1 bodies stay byte-for-byte as they
are). The frontend's REST types are generated from the resulting document.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str) -> Any:
    """A field the body leaves out when it does not apply (never `null` unless its type says
    so): optional in the document, with no default (a default would make generated clients
    treat it as always present)."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


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
    mention_count: int = Field(
        description="Entries that mention the caller (by name or @room) above their read "
        "positions (the room's, or the thread's for replies), capped at 1000."
    )
    notify: Literal["all", "mentions", "none"] = Field(
        description="The caller's notify level (default: all in direct rooms, mentions in "
        "channels)."
    )
    topic: str | None = absent("Channels: the topic shown in the header; null when none.")
    archived: bool | SkipJsonSchema[None] = absent(
        "Channels: archived rooms are read-only (every new entry is refused with `archived` "
        "except a room admin's delete)."
    )
    my_role: Literal["admin", "member"] | SkipJsonSchema[None] = absent(
        "Channels: the caller's room role. Workspace owners and admins act as room admins in "
        "channels they are in, whatever this says."
    )


class RoomEnvelope(BaseModel):
    room: RoomOut


class RoomList(BaseModel):
    rooms: list[RoomOut]


class MemberOut(BaseModel):
    user_id: str
    joined_at: str
    last_read_seq: int
    role: Literal["admin", "member"] = Field(
        description="The member's room role (api-v1.1 C; direct rooms: always member). "
        "Workspace owners and admins act as room admins in channels they are in."
    )


class MemberList(BaseModel):
    members: list[MemberOut]


class ReactionOut(BaseModel):
    """One emoji's reactions on a `text` entry (api-v1.1 A)."""

    emoji: str
    count: int
    user_ids: list[str] = Field(description="The first 50 reactors, in the order they reacted.")
    me: bool = Field(description="Whether the caller reacted with this emoji.")


class MentionsOut(BaseModel):
    """Who a text entry mentions (api-v1.1 A)."""

    user_ids: list[str]
    room: bool = Field(description="@room (only when the sender may use it).")


class ThreadOut(BaseModel):
    """The summary a thread root carries (api-v1.1 A)."""

    reply_count: int
    last_reply_at: str | None
    participant_ids: list[str] = Field(description="The first 50 repliers.")
    unread_replies: int | SkipJsonSchema[None] = absent(
        "For the caller, when they took part (the root's sender or a replier): replies by "
        "others above their read position in the thread."
    )


class FileOut(BaseModel):
    """A file a text entry carries (api-v1.1 E), with links signed for the caller."""

    id: str
    name: str
    size: int = Field(description="Bytes.")
    content_type: str = Field(description="Sniffed from the bytes, never the client's claim.")
    sha256: str = Field(description="Of the stored bytes (lower-case hex).")
    width: int | None = Field(description="Images: pixels; else null.")
    height: int | None = Field(description="Images: pixels; else null.")
    has_thumbnail: bool
    purpose: Literal["attachment", "avatar"]
    created_at: str
    uploader_id: str
    url: str = Field(
        description="The bytes, for the caller only, valid 10 minutes (no bearer header needed)."
    )
    thumbnail_url: str | None = Field(
        description="A thumbnail (at most 400 px) like `url`; null when there is none."
    )


class MessageOut(BaseModel):
    """A timeline entry (the contract's `Message`). Fields beside v1's are present by kind:
    `text` entries carry their current state (`edited_at`, `deleted`, `reactions`,
    `state_seq`); change entries (`edit`, `delete`, `reaction`) their `target_id` (and `text`
    for an edit, `emoji` and `added` for a reaction); `system` entries `event`, `actor_id`,
    `subject_id`, `value`. Clients skip kinds they do not know."""

    id: str
    room_id: str
    seq: int
    kind: str = Field(description="text, edit, delete, reaction, system; others may come.")
    sender_id: str
    text: str = Field(description="Text and edit entries; empty for other kinds and once deleted.")
    client_msg_id: str
    created_at: str
    target_id: str | SkipJsonSchema[None] = absent("Change entries: the text entry they change.")
    emoji: str | SkipJsonSchema[None] = absent("Reaction entries.")
    added: bool | SkipJsonSchema[None] = absent("Reaction entries: added (true) or removed.")
    event: str | SkipJsonSchema[None] = absent("System entries: what happened.")
    actor_id: str | SkipJsonSchema[None] = absent("System entries.")
    subject_id: str | None = absent("System entries.")
    value: str | None = absent("System entries.")
    edited_at: str | None = absent("Text entries: the time of the last edit, or null.")
    deleted: bool | SkipJsonSchema[None] = absent("Text entries: deleted (its text is empty).")
    reactions: list[ReactionOut] | SkipJsonSchema[None] = absent(
        "Text entries: one item per emoji, in the order of their first reaction."
    )
    state_seq: int | SkipJsonSchema[None] = absent(
        "Text entries: the seq of the last entry that changed it (its own seq if none)."
    )
    thread_root_id: str | SkipJsonSchema[None] = absent("Thread replies: their root.")
    mentions: MentionsOut | SkipJsonSchema[None] = absent(
        "Text entries that mention someone; edit entries: the target's recomputed mentions."
    )
    thread: ThreadOut | SkipJsonSchema[None] = absent(
        "Thread roots (top-level text entries that have had a reply)."
    )
    attachments: list[FileOut] | SkipJsonSchema[None] = absent(
        "Text entries that carry files, in their order (none once deleted)."
    )


class MessageEnvelope(BaseModel):
    message: MessageOut
    noop: bool | SkipJsonSchema[None] = absent(
        "true: a reaction that changed nothing; `message` is then the current target."
    )


class MessagePage(BaseModel):
    messages: list[MessageOut]
    has_more: bool = Field(description="More entries that way (around_seq pages: before).")
    has_more_before: bool | SkipJsonSchema[None] = absent("around_seq pages.")
    has_more_after: bool | SkipJsonSchema[None] = absent("around_seq pages.")
    covered_from_seq: int | SkipJsonSchema[None] = absent(
        "content_only pages: the page holds every text entry whose seq is in "
        "covered_from_seq..covered_to_seq (inclusive)."
    )
    covered_to_seq: int | SkipJsonSchema[None] = absent("content_only pages.")


class ThreadPage(BaseModel):
    root: MessageOut = Field(description="The thread root (a tombstone once deleted).")
    replies: list[MessageOut] = Field(description="Replies above after_seq, in seq order.")
    has_more: bool = Field(description="More replies follow.")


class EditList(BaseModel):
    edits: list[MessageOut] = Field(description="The edit entries, in seq order.")


def documented(model: type[BaseModel], *statuses: int) -> dict[str, Any]:
    """Route keyword arguments: `model` is the body for `statuses` (default 200), for docs only."""
    return {
        "response_model": None,
        "responses": {status: {"model": model} for status in statuses or (200,)},
    }
