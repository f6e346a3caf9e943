"""Value objects of message-service and the rules about rooms and memberships."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

RoomKind = Literal["channel", "direct"]
Visibility = Literal["public", "private"]
# The timeline entries of api-v1.1 A: `text` (v1), the change entries `edit`, `delete` and
# `reaction` (they name a `target_id`), and `system` entries, which only the service makes.
MessageKind = Literal["text", "edit", "delete", "reaction", "system"]
CHANGE_KINDS: frozenset[str] = frozenset({"edit", "delete", "reaction"})


@dataclass(frozen=True, slots=True)
class Reaction:
    """One emoji's reactions on a `text` entry, aggregated: how many users, the first ones in
    the order they reacted (at most 50 are kept)."""

    emoji: str
    count: int
    user_ids: tuple[UUID, ...]


@dataclass(frozen=True, slots=True)
class ReactionMark:
    """One stored reaction (a `reactions` row): `seq` is the seq of the entry that added it,
    `emoji_seq` the seq at which its emoji last appeared on the message (went from no reaction to
    one). Emoji are shown in `emoji_seq` order: the order every client reaches by appending an
    emoji when it appears and dropping it when its count falls to zero."""

    emoji: str
    user_id: UUID
    seq: int
    emoji_seq: int


@dataclass(frozen=True, slots=True)
class Mentions:
    """Who a `text` entry mentions (api-v1.1 A): room members by `@username` (their ids, in the
    order first written) and `@room` when the sender may use it."""

    user_ids: tuple[UUID, ...] = ()
    room: bool = False

    def __bool__(self) -> bool:
        return bool(self.user_ids) or self.room


NO_MENTIONS = Mentions()


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A file message-service knows (api-v1.1 E): the projection of `file.uploaded.v1`, and
    what a `text` entry's `attachments` show (links are signed per caller by REST)."""

    id: UUID
    uploader_id: UUID
    purpose: str  # attachment | avatar
    name: str
    size: int
    content_type: str
    sha256: str
    width: int | None
    height: int | None
    has_thumbnail: bool
    created_at: datetime


# api-v1.1 A: the first repliers a thread root lists.
THREAD_PARTICIPANTS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class Message:
    """A timeline entry as stored. Change entries (`edit`, `delete`, `reaction`) carry
    `target_id` (+ `text` for edit, `emoji`/`added` for reaction); `system` entries `event`,
    `actor_id`, `subject_id`, `value`. A `text` entry carries its current state: `edited_at`,
    `deleted`, `reactions` (aggregated, filled by whoever reads them) and `state_seq` (None: it
    never changed, i.e. its own seq). `content_hash` is what dedup compares (None on rows from
    before api-v1.1: see domain/entries.py).

    Threads and mentions (api-v1.1 A): a reply names its `thread_root_id`; a root keeps its
    summary (`reply_count`, `last_reply_at`: None until its first reply, `participant_ids`).
    `mentions` is None when the entry mentions nobody (or was never parsed); an `edit` entry
    carries the mentions its new text gives the target (empty ones too).

    Attachments (api-v1.1 E): a `text` entry's files in their order (empty once deleted); filled
    by the planner for new entries and by the reads that render entries."""

    id: UUID
    room_id: UUID
    seq: int
    kind: MessageKind
    sender_id: UUID
    text: str
    client_msg_id: UUID
    created_at: datetime
    target_id: UUID | None = None
    emoji: str | None = None
    added: bool | None = None
    event: str | None = None
    actor_id: UUID | None = None
    subject_id: UUID | None = None
    value: str | None = None
    edited_at: datetime | None = None
    deleted: bool = False
    state_seq: int | None = None
    reactions: tuple[Reaction, ...] = ()
    content_hash: bytes | None = field(default=None, repr=False)
    thread_root_id: UUID | None = None
    mentions: Mentions | None = None
    reply_count: int = 0
    last_reply_at: datetime | None = None
    participant_ids: tuple[UUID, ...] = ()
    attachments: tuple[FileInfo, ...] = ()

    @property
    def current_seq(self) -> int:
        """api-v1.1 `state_seq`: the seq of the last entry that changed it, else its own."""
        return self.seq if self.state_seq is None else self.state_seq


@dataclass(frozen=True, slots=True)
class Room:
    id: UUID
    kind: RoomKind
    name: str
    visibility: Visibility
    created_by: UUID
    created_at: datetime
    last_seq: int
    last_activity_at: datetime
    direct_key: str | None = None
    # api-v1.1 C, channels: the topic shown in the header (None: none), and whether the room
    # is archived (read-only).
    topic: str | None = None
    archived: bool = False


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room as one user sees it (api-v1 `room`)."""

    room: Room
    member_count: int
    last_read_seq: int
    # api-v1.1 B: other people's not deleted `text` entries above last_read_seq (capped); the
    # store computes it (store/room_queries.py).
    unread_count: int = 0
    # api-v1.1 B: entries mentioning the caller above their read positions (capped), and the
    # caller's notify level (memberships.notify, else the default of the room's kind).
    mention_count: int = 0
    notify: str = "mentions"
    # api-v1.1 C: the caller's role in a channel (`admin` | `member`; a non-member looking at
    # a public channel's card: `member`); None in direct rooms, which have no roles.
    my_role: str | None = None


def direct_key(*members: UUID) -> str:
    """The one key of the direct room of a set of users (api-v1.1 C), whatever the order or
    repeats they are given in: their sorted ids joined by ":". Two ids for a 1:1 room (v1's
    format, so existing rooms are found); notes to yourself keep v1's "a:a"."""
    ids = sorted(set(members))
    if len(ids) == 1:
        ids *= 2
    return ":".join(str(u) for u in ids)


def clamp_read(requested: int, current: int, last_seq: int) -> int | None:
    """New read position, or None when it would not move (never past last_seq, never back)."""
    target = min(requested, last_seq)
    return target if target > current else None


Access = Literal["member", "visible", "hidden"]


def access_of(room: Room | None, is_member: bool) -> Access:
    """What a user may see of a room: members everything, others a public room's card only."""
    if room is None:
        return "hidden"
    if is_member:
        return "member"
    return "visible" if room.visibility == "public" else "hidden"
