"""Decisions for a batch of send commands: dedup, membership, the target and authority rules of
api-v1.1 A, content rules and gapless seq.

Given the current state of the touched rooms and targets (read under the rooms' locks) this
decides, in arrival order, what happens to each command, and what the batch writes: the new
entries, the targets' new state, reaction rows, no-op receipts. It never does I/O, so the batch
consumer and the REST endpoint share it and it can be property-tested.

Threads (api-v1.1 A): a `text` command with `thread_root_id` is a reply; its root (a top-level
`text` entry of the room, not deleted) gets its summary updated and its `state_seq` moved to
the reply's seq, as a delete of a reply does with one reply less. Mentions are resolved by the
caller before planning (they need the directory) and ride on the command; the planner puts them
on the entry, replaces a target's on edit, empties them on delete, and lists the `mentions` rows.

Several commands of one batch may hit the same target (or a `text` entry created earlier in the
same batch): each is decided against the state the earlier ones left. Every message the
outcomes name is the one the batch leaves behind (a `text` entry with its final state, an edit
whose target the batch deletes with its text erased), so nothing the batch emits carries text a
delete of the same batch erased.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, cast
from uuid import UUID

from chat_contracts.emoji import MAX_DISTINCT_PER_MESSAGE, is_rgi
from chat_runtime.features import Refusal

from message_service.domain.entries import aggregate_reactions, content_hash, stored_hash
from message_service.domain.mentions import mentioned_users
from message_service.domain.model import (
    THREAD_PARTICIPANTS_SHOWN,
    FileInfo,
    Mentions,
    Message,
    MessageKind,
    ReactionMark,
    RoomKind,
)
from message_service.domain.text import text_problem

RejectCode = Literal[
    "bad_request",
    "not_a_member",
    "message_too_long",
    "client_msg_id_reused",
    "unsupported",
    "feature_disabled",
    "not_found",
    "forbidden",
    "deactivated",
    "archived",
    "blocked",
    "unavailable",
]

# api-v1.1 E: at most this many files on one entry; each must have been uploaded at most this
# long ago (file-service deletes attachments never attached within 24 h).
MAX_ATTACHMENTS = 10
ATTACH_WITHIN = timedelta(hours=23)

# The kinds a command may ask for; `system` only when the service made it (it sets `event`).
_KINDS: frozenset[str] = frozenset({"text", "edit", "delete", "reaction", "system"})


@dataclass(frozen=True, slots=True)
class SendCommand:
    client_msg_id: UUID
    room_id: UUID
    sender_id: UUID
    text: str
    # Set when the command asks for an api-v1.1 addition that is not on here: it is refused
    # with this code, before anything else, and never stored as a plain text message.
    refusal: Refusal | None = None
    # api-v1.1 A: `text` (default), `edit`, `delete`, `reaction`; `system` from the service.
    kind: str = "text"
    target_id: UUID | None = None
    emoji: str | None = None
    added: bool | None = None  # reactions: None (absent) means added
    # System entries only (made by services/rooms.py, never from a client's command).
    event: str | None = None
    subject_id: UUID | None = None
    value: str | None = None
    # api-v1.1 A threads: the root this `text` entry replies to.
    thread_root_id: UUID | None = None
    # Whether `mentions` are parsed for this command (feature `mentions` on; text and edit).
    mentions_on: bool = False
    # The command's mentions, resolved by the send service before planning (None: not parsed:
    # the feature is off, or a text without `@`). An edit with mentions_on always has them.
    mentions: Mentions | None = None
    # api-v1.1 E: the files a `text` entry carries, in order (None: the field was absent).
    attachments: tuple[UUID, ...] | None = None

    def content_hash(self) -> bytes:
        text = self.text if self.kind in ("text", "edit") else ""
        return content_hash(
            self.room_id,
            self.kind,
            self.target_id,
            text,
            self.emoji,
            self.added,
            thread_root_id=self.thread_root_id,
            attachments=self.attachments or (),
        )


@dataclass(frozen=True, slots=True)
class RoomState:
    last_seq: int
    members: frozenset[UUID]  # at least the batch's senders that are members
    kind: RoomKind = "channel"
    # 1:1 direct rooms: the members whose account is deactivated (api-v1.1 A `deactivated`).
    deactivated: frozenset[UUID] = frozenset()
    # api-v1.1 C: an archived room refuses every entry but a room admin's delete (and the
    # service's system entries).
    archived: bool = False
    # Channels: the batch's senders who are room admins there (room role `admin`, or a
    # workspace owner/admin who is a member). The store fills it completely when the batch
    # may need it (a delete, or a text that may say `@room`).
    admins: frozenset[UUID] = frozenset()
    # 1:1 direct rooms: either member blocks the other (api-v1.1 C `blocked`).
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """A stored `text` entry (or any entry a command names) and its reaction rows."""

    message: Message
    marks: tuple[ReactionMark, ...] = ()


@dataclass(frozen=True, slots=True)
class NoopSend:
    """A reaction that changed nothing, recorded so its repeat gets the same answer."""

    sender_id: UUID
    client_msg_id: UUID
    room_id: UUID
    target_id: UUID
    content_hash: bytes
    created_at: datetime


# What (sender_id, client_msg_id) already stands for: an entry, or a no-op receipt.
Stored = Message | NoopSend


@dataclass(frozen=True, slots=True)
class Created:
    message: Message


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A repeat of a committed send: `message` is its entry, or for the repeat of a no-op
    (`noop`) the current target."""

    message: Message
    # False when the original is created in this same batch: its created event is already owed
    # (and always for a no-op: it never had one).
    reemit_created: bool
    noop: bool = False


@dataclass(frozen=True, slots=True)
class Noop:
    """A reaction that changed nothing (added one the user has, removed one they do not):
    no entry, no seq; `message` is the current target."""

    message: Message


@dataclass(frozen=True, slots=True)
class Rejected:
    code: RejectCode
    detail: str
    field: str | None = None  # REST's per-field error (`text`, `emoji`, `target_id`, ...)


Outcome = Created | Duplicate | Noop | Rejected


@dataclass(slots=True)
class BatchPlan:
    outcomes: list[Outcome] = field(default_factory=list)
    new_messages: list[Message] = field(default_factory=list)
    last_seqs: dict[UUID, int] = field(default_factory=dict)
    # (room_id, user_id) -> seq the sender has now read (their own newest text entry)
    read_positions: dict[tuple[UUID, UUID], int] = field(default_factory=dict)
    # Stored entries whose state changed (text, edited_at, deleted, state_seq, content_hash).
    target_updates: list[Message] = field(default_factory=list)
    # Reaction rows to write (message_id, mark; an existing row gets the mark's seq) and remove.
    reaction_puts: list[tuple[UUID, ReactionMark]] = field(default_factory=list)
    reaction_removes: list[tuple[UUID, str, UUID]] = field(default_factory=list)
    noops: list[NoopSend] = field(default_factory=list)
    # Stored entries deleted by this batch: their edits' text and their outbox rows are erased.
    erased: list[UUID] = field(default_factory=list)
    # (thread_root_id, user_id) -> (room_id, seq): a replier's read position in the thread
    # (their own newest reply).
    thread_reads: dict[tuple[UUID, UUID], tuple[UUID, int]] = field(default_factory=dict)
    # `mentions` rows: (message_id, user_id, room_id, seq, thread_root_id) of the text entries
    # this batch creates or whose mentions it changes; `mentions_replaced`: stored entries whose
    # rows are replaced by those (emptied when none are listed).
    mention_rows: list[tuple[UUID, UUID, UUID, int, UUID | None]] = field(default_factory=list)
    mentions_replaced: list[UUID] = field(default_factory=list)
    # `message_attachments` rows (message_id, file_id, position) of the new text entries that
    # carry files (a delete of the same batch leaves none); stored entries this batch deletes
    # lose theirs with `erased`.
    attachment_rows: list[tuple[UUID, UUID, int]] = field(default_factory=list)

    @property
    def active_rooms(self) -> set[UUID]:
        """Rooms with a new `text` entry: only those move their activity time (api-v1.1 B);
        the same entries move their senders' read positions."""
        return {room for room, _ in self.read_positions}

    @property
    def changes_targets(self) -> bool:
        return bool(
            self.target_updates
            or self.reaction_puts
            or self.reaction_removes
            or self.noops
            or self.erased
        )

    @property
    def writes_threads_or_mentions(self) -> bool:
        return bool(self.thread_reads or self.mention_rows or self.mentions_replaced)


@dataclass(slots=True)
class _State:
    """The state of one entry a command of the batch touched, as the batch goes on."""

    message: Message
    # (emoji, user_id) -> (seq of the reaction, seq at which its emoji appeared)
    marks: dict[tuple[str, UUID], tuple[int, int]]
    stored: bool  # False: created by this batch (at new_index)
    initial_marks: dict[tuple[str, UUID], tuple[int, int]]
    new_index: int | None = None
    edit_indexes: list[int] = field(default_factory=list)  # this batch's edits of it
    changed: bool = False
    mentions_changed: bool = False


def _reject(code: RejectCode, detail: str, field_name: str | None = None) -> Rejected:
    return Rejected(code, detail, field_name)


_NOT_FOUND = "There is no such message in this room, or it was deleted."
_NO_ROOT = "There is no such thread in this room: its first message is gone or was deleted."


class _Planner:
    def __init__(
        self,
        rooms: Mapping[UUID, RoomState],
        existing: Mapping[tuple[UUID, UUID], Stored],
        targets: Mapping[UUID, Target],
        now: datetime,
        new_id: Callable[[], UUID],
        files: Mapping[UUID, FileInfo],
    ) -> None:
        self.rooms = rooms
        self.existing = existing
        self.targets = targets
        self.files = files
        self.attaching = False  # a new entry of the batch carries files
        self.now = now
        self.new_id = new_id
        self.plan = BatchPlan()
        self.seen: dict[tuple[UUID, UUID], Stored] = {}
        self.states: dict[UUID, _State] = {}

    # --- state of touched entries ------------------------------------------------------------

    def state_of(self, message_id: UUID) -> _State | None:
        state = self.states.get(message_id)
        if state is not None:
            return state
        target = self.targets.get(message_id)
        if target is not None:
            marks = {(m.emoji, m.user_id): (m.seq, m.emoji_seq) for m in target.marks}
            state = _State(target.message, marks, stored=True, initial_marks=dict(marks))
        else:
            # An entry of this batch (rare: only the batch's own commands could know its id);
            # searched instead of indexed so plain text batches pay nothing for it.
            new = self.plan.new_messages
            index = next((i for i, m in enumerate(new) if m.id == message_id), None)
            if index is None:
                return None
            state = _State(new[index], {}, stored=False, initial_marks={}, new_index=index)
        self.states[message_id] = state
        return state

    # --- deciding ----------------------------------------------------------------------------

    def decide(self, cmd: SendCommand) -> Outcome:
        if cmd.refusal is not None:
            return _reject(cmd.refusal.code, cmd.refusal.detail)
        digest = cmd.content_hash()
        key = (cmd.sender_id, cmd.client_msg_id)
        earlier = self.existing.get(key)
        in_batch = earlier is None and key in self.seen
        if earlier is None:
            earlier = self.seen.get(key)
        if earlier is not None:
            return self.repeat(cmd, digest, earlier, in_batch=in_batch)
        kind = cmd.kind
        if kind not in _KINDS or (kind == "system" and cmd.event is None):
            return _reject("unsupported", f"This server does not support entries of kind '{kind}'.")
        room = self.rooms.get(cmd.room_id)
        if room is None or (kind != "system" and cmd.sender_id not in room.members):
            return _reject("not_a_member", "You are not a member of this room.")
        if kind != "system":
            refusal = _room_refusal(cmd, room)
            if refusal is not None:
                return refusal
        if kind == "text" or kind == "system":
            if (
                cmd.target_id is not None
                or cmd.emoji is not None
                or cmd.added is not None
                or (
                    kind == "system"
                    and (cmd.thread_root_id is not None or cmd.attachments is not None)
                )
            ):
                allowed = ("thread_root_id", "attachments") if kind == "text" else ()
                stray = _stray_field(cmd, allowed=allowed)
                assert stray is not None
                return stray
            root = None
            if cmd.thread_root_id is not None:
                root = self.state_of(cmd.thread_root_id)
                refusal = _root_refusal(root, cmd.room_id)
                if refusal is not None:
                    return refusal
            # api-v1.1 E: a text entry with files may have no text at all.
            problem = None if cmd.attachments and cmd.text == "" else text_problem(cmd.text)
            if problem is not None:
                return _reject(problem[0], problem[1], "text")
            if cmd.attachments:
                refusal = _attachments_refusal(cmd, self.files, self.now)
                if refusal is not None:
                    return refusal
                self.attaching = True
            entry = self.create(cmd, room, digest)
            if root is not None:
                self.apply_reply(root, entry)
            return Created(entry)
        return self.change(cmd, room, digest)

    def repeat(
        self, cmd: SendCommand, digest: bytes, earlier: Stored, *, in_batch: bool
    ) -> Outcome:
        if earlier.room_id != cmd.room_id:
            return _reject(
                "client_msg_id_reused",
                "This client_msg_id was already used for a message in another room.",
            )
        if isinstance(earlier, NoopSend):
            if earlier.content_hash != digest:
                return _reused()
            state = self.state_of(earlier.target_id)
            if state is None:
                return _reject("not_found", _NOT_FOUND)
            return Duplicate(state.message, reemit_created=False, noop=True)
        if stored_hash(earlier) != digest:
            return _reused()
        message = earlier
        if earlier.id in self.targets:
            state = self.state_of(earlier.id)
            if state is not None:
                message = state.message
        return Duplicate(message, reemit_created=not in_batch)

    def change(self, cmd: SendCommand, room: RoomState, digest: bytes) -> Outcome:
        kind = cmd.kind
        if cmd.target_id is None:
            return _reject(
                "bad_request", f"An entry of kind '{kind}' needs a target_id.", "target_id"
            )
        stray = _stray_field(
            cmd, allowed=("target_id", "emoji", "added") if kind == "reaction" else ("target_id",)
        )
        if stray is not None:
            return stray
        target = self.state_of(cmd.target_id)
        if target is None or target.message.room_id != cmd.room_id:
            return _reject("not_found", _NOT_FOUND)
        current = target.message
        if current.kind == "system" and kind == "reaction":
            return _reject("forbidden", "System entries cannot get reactions.")
        if current.kind != "text" or current.deleted:
            return _reject("not_found", _NOT_FOUND)
        own = current.sender_id == cmd.sender_id
        if room.blocked and not own:
            # Only the sender's delete of their own entry gets here (see _room_refusal).
            return _reject("blocked", _BLOCKED)
        if kind == "edit" and not own:
            return _reject("forbidden", "You can only edit your own messages.")
        if (
            kind == "delete"
            and not own
            and not (room.kind == "channel" and cmd.sender_id in room.admins)
        ):
            return _reject("forbidden", "You can only delete your own messages.")
        if kind == "edit":
            problem = text_problem(cmd.text)
            if problem is not None:
                return _reject(problem[0], problem[1], "text")
        if kind == "reaction":
            emoji = cmd.emoji
            if emoji is None or not is_rgi(emoji):
                return _reject(
                    "bad_request",
                    "A reaction needs one emoji (Emoji 15.1, fully qualified).",
                    "emoji",
                )
            added = cmd.added is not False
            have = (emoji, cmd.sender_id) in target.marks
            if added == have:
                noop = NoopSend(
                    cmd.sender_id, cmd.client_msg_id, cmd.room_id, current.id, digest, self.now
                )
                self.plan.noops.append(noop)
                self.seen[(cmd.sender_id, cmd.client_msg_id)] = noop
                return Noop(current)
            if added and emoji not in {e for e, _ in target.marks}:
                distinct = len({e for e, _ in target.marks})
                if distinct >= MAX_DISTINCT_PER_MESSAGE:
                    return _reject(
                        "bad_request",
                        f"A message can have at most {MAX_DISTINCT_PER_MESSAGE} different "
                        "emoji reactions.",
                        "emoji",
                    )
        # A delete of a reply names the reply's thread, so a client holding the root but not
        # the reply can still count one reply less.
        root_id = current.thread_root_id if kind == "delete" else None
        entry = self.create(cmd, room, digest, thread_root_id=root_id)
        self.apply(target, entry)
        return Created(entry)

    # --- effects -----------------------------------------------------------------------------

    def create(
        self,
        cmd: SendCommand,
        room: RoomState,
        digest: bytes,
        *,
        thread_root_id: UUID | None = None,
    ) -> Message:
        plan = self.plan
        seq = plan.last_seqs.get(cmd.room_id, room.last_seq) + 1
        kind = cast(MessageKind, cmd.kind)  # one of _KINDS: checked by decide()
        if kind == "text":
            message = Message(
                self.new_id(),
                cmd.room_id,
                seq,
                kind,
                cmd.sender_id,
                cmd.text,
                cmd.client_msg_id,
                self.now,
                content_hash=digest,
                thread_root_id=cmd.thread_root_id,
                # Stored (and sent) only when it mentions someone: NULL columns mean none.
                mentions=cmd.mentions or None,
                attachments=(
                    tuple(self.files[f] for f in cmd.attachments) if cmd.attachments else ()
                ),
            )
        else:
            reaction = kind == "reaction"
            system = kind == "system"
            message = Message(
                id=self.new_id(),
                room_id=cmd.room_id,
                seq=seq,
                kind=kind,
                sender_id=cmd.sender_id,
                text=cmd.text if kind in ("edit", "system") else "",
                client_msg_id=cmd.client_msg_id,
                created_at=self.now,
                target_id=cmd.target_id,
                emoji=cmd.emoji if reaction else None,
                added=(cmd.added is not False) if reaction else None,
                event=cmd.event if system else None,
                actor_id=cmd.sender_id if system else None,
                subject_id=cmd.subject_id if system else None,
                value=cmd.value if system else None,
                content_hash=digest,
                # An edit carries the mentions it gives its target, empty ones too.
                mentions=cmd.mentions if kind == "edit" else None,
                thread_root_id=thread_root_id,
            )
        plan.new_messages.append(message)
        self.seen[(cmd.sender_id, cmd.client_msg_id)] = message
        plan.last_seqs[cmd.room_id] = seq
        if kind == "text":
            if cmd.thread_root_id is None:
                # Only top-level text entries are read by sending them and move the room
                # (api-v1.1 B); a reply moves its sender's read position in its thread.
                plan.read_positions[(cmd.room_id, cmd.sender_id)] = seq
            else:
                plan.thread_reads[(cmd.thread_root_id, cmd.sender_id)] = (cmd.room_id, seq)
        return message

    def apply(self, target: _State, entry: Message) -> None:
        current = target.message
        # Rows from before api-v1.1 have no content hash: keep the one of their first text
        # before it changes, so a late repeat of the original send is still a duplicate.
        digest = stored_hash(current)
        if entry.kind == "edit":
            mentions = current.mentions
            if entry.mentions is not None:  # parsed: the edit's mentions replace the target's
                mentions = entry.mentions or None
                target.mentions_changed = True
            target.message = dataclasses.replace(
                current,
                text=entry.text,
                edited_at=entry.created_at,
                state_seq=entry.seq,
                content_hash=digest,
                mentions=mentions,
            )
            target.edit_indexes.append(len(self.plan.new_messages) - 1)
        elif entry.kind == "delete":
            target.message = dataclasses.replace(
                current,
                text="",
                deleted=True,
                state_seq=entry.seq,
                content_hash=digest,
                mentions=None,
                attachments=(),
            )
            target.mentions_changed = True
            target.marks.clear()
            if current.thread_root_id is not None:
                self.apply_reply(self.state_of(current.thread_root_id), entry, removed=True)
            new = self.plan.new_messages
            for index in target.edit_indexes:
                new[index] = dataclasses.replace(new[index], text="", mentions=None)
            if target.stored:
                self.plan.erased.append(current.id)
        else:
            assert entry.emoji is not None
            mark = (entry.emoji, entry.sender_id)
            if entry.added:
                # An emoji keeps its place while anyone still has it; a new one goes last.
                appeared = next(
                    (since for (e, _), (_, since) in target.marks.items() if e == entry.emoji),
                    entry.seq,
                )
                target.marks[mark] = (entry.seq, appeared)
            else:
                del target.marks[mark]
            target.message = dataclasses.replace(current, state_seq=entry.seq, content_hash=digest)
        target.changed = True

    def apply_reply(self, root: _State | None, entry: Message, *, removed: bool = False) -> None:
        """A reply (or, `removed`, the delete of one) updates its root's summary and moves the
        root's state_seq to the entry (api-v1.1 A): one reply more (with its time, its sender
        among the first participants), or one less (participants and time unchanged)."""
        if root is None:
            return  # a deleted reply whose root is gone: nothing to count
        current = root.message
        digest = stored_hash(current)
        if removed:
            root.message = dataclasses.replace(
                current,
                reply_count=max(current.reply_count - 1, 0),
                state_seq=entry.seq,
                content_hash=digest,
            )
        else:
            participants = current.participant_ids
            if (
                entry.sender_id not in participants
                and len(participants) < THREAD_PARTICIPANTS_SHOWN
            ):
                participants = (*participants, entry.sender_id)
            root.message = dataclasses.replace(
                current,
                reply_count=current.reply_count + 1,
                last_reply_at=entry.created_at,
                participant_ids=participants,
                state_seq=entry.seq,
                content_hash=digest,
            )
        root.changed = True

    # --- the batch's result ------------------------------------------------------------------

    def finish(self) -> BatchPlan:
        plan = self.plan
        if not self.states:
            # Plain sends only: every outcome already names its final message.
            self.mention_rows(plan.new_messages)
            self.attachment_rows(plan.new_messages)
            return plan
        finals: dict[UUID, Message] = {}
        deleted: set[UUID] = set()
        for message_id, state in self.states.items():
            marks = [ReactionMark(e, u, s, since) for (e, u), (s, since) in state.marks.items()]
            final = dataclasses.replace(state.message, reactions=aggregate_reactions(marks))
            finals[message_id] = final
            if final.deleted:
                deleted.add(message_id)
            if state.new_index is not None:
                plan.new_messages[state.new_index] = final
            if not state.changed:
                continue
            if state.stored:
                plan.target_updates.append(state.message)
                if state.mentions_changed:
                    plan.mentions_replaced.append(message_id)
            for (emoji, user), (seq, since) in state.marks.items():
                if state.initial_marks.get((emoji, user)) != (seq, since):
                    plan.reaction_puts.append((message_id, ReactionMark(emoji, user, seq, since)))
            if state.stored and final.deleted:
                continue  # the store removes every reaction of an erased entry
            for emoji, user in state.initial_marks.keys() - state.marks.keys():
                plan.reaction_removes.append((message_id, emoji, user))
        for index, message in enumerate(plan.new_messages):
            finals.setdefault(message.id, message)
            if message.kind == "edit" and message.target_id in deleted and message.text:
                plan.new_messages[index] = finals[message.id] = dataclasses.replace(
                    message, text="", mentions=None
                )
        plan.outcomes = [_resolved(o, finals, deleted) for o in plan.outcomes]
        replaced = set(plan.mentions_replaced)
        self.mention_rows(
            [*plan.new_messages, *(m for m in plan.target_updates if m.id in replaced)]
        )
        self.attachment_rows(plan.new_messages)
        return plan

    def attachment_rows(self, entries: Sequence[Message]) -> None:
        """The `message_attachments` rows of the batch's new text entries (final state: one
        deleted by the same batch has none). Batches without files look at nothing."""
        if not self.attaching:
            return
        rows = self.plan.attachment_rows
        for message in entries:
            for position, file in enumerate(message.attachments):
                rows.append((message.id, file.id, position))

    def mention_rows(self, entries: Sequence[Message]) -> None:
        """The `mentions` rows of these text entries (final state): one per mentioned user but
        the sender. Plain batches (no mentions anywhere) look at nothing but one attribute."""
        rows = self.plan.mention_rows
        for message in entries:
            if message.mentions is None or message.kind != "text" or message.deleted:
                continue
            for user in mentioned_users(message.mentions, message.sender_id):
                rows.append(
                    (message.id, user, message.room_id, message.seq, message.thread_root_id)
                )


def _resolved(outcome: Outcome, finals: Mapping[UUID, Message], deleted: set[UUID]) -> Outcome:
    if isinstance(outcome, Rejected):
        return outcome
    message = finals.get(outcome.message.id, outcome.message)
    if message.kind == "edit" and message.target_id in deleted and message.text:
        # A stored edit whose target this batch deleted (the store erases its row).
        message = dataclasses.replace(message, text="", mentions=None)
    if message is outcome.message:
        return outcome
    return dataclasses.replace(outcome, message=message)


_BLOCKED = "One of you blocks the other: no new messages can be sent in this conversation."


def _room_refusal(cmd: SendCommand, room: RoomState) -> Rejected | None:
    """A refusal that comes from the room's state (api-v1.1 A's table), for every entry but the
    service's system entries: an archived room takes only a room admin's delete; a 1:1 direct
    room where one blocks the other only the sender's delete of their own entry (checked
    against the target in `change`); a 1:1 direct room with a deactivated member nothing."""
    if room.archived and not (cmd.kind == "delete" and cmd.sender_id in room.admins):
        return _reject("archived", "This room is archived: it is read-only.")
    if room.blocked and cmd.kind != "delete":
        return _reject("blocked", _BLOCKED)
    if room.deactivated and room.deactivated - {cmd.sender_id}:
        return _reject(
            "deactivated", "This person's account is deactivated: they cannot get messages."
        )
    return None


def _root_refusal(root: _State | None, room_id: UUID) -> Rejected | None:
    """Why a reply cannot go into this thread, if it cannot (api-v1.1 A's table): the root is
    absent from the room, not a `text` entry, or deleted (not_found); or it is a reply itself."""
    if root is None or root.message.room_id != room_id:
        return _reject("not_found", _NO_ROOT, "thread_root_id")
    message = root.message
    if message.kind != "text" or message.deleted:
        return _reject("not_found", _NO_ROOT, "thread_root_id")
    if message.thread_root_id is not None:
        return _reject(
            "bad_request",
            "You cannot reply to a reply: reply in the thread of its first message.",
            "thread_root_id",
        )
    return None


def _attachments_refusal(
    cmd: SendCommand, files: Mapping[UUID, FileInfo], now: datetime
) -> Rejected | None:
    """Why a text entry cannot carry these files (api-v1.1 E), if it cannot: the same file
    twice or more than MAX_ATTACHMENTS (bad_request); a file message-service has not learned
    yet (`unavailable`: the upload's event may still be on its way, a retry can pass); a file
    of someone else, an avatar, or one uploaded more than 23 hours ago (bad_request)."""
    ids = cmd.attachments or ()
    if len(ids) > MAX_ATTACHMENTS:
        return _reject(
            "bad_request",
            f"A message can carry at most {MAX_ATTACHMENTS} files.",
            "attachments",
        )
    if len(set(ids)) != len(ids):
        return _reject("bad_request", "The same file is attached more than once.", "attachments")
    if any(file_id not in files for file_id in ids):
        return _reject(
            "unavailable",
            "A file of this message is not ready yet; try again in a moment.",
            "attachments",
        )
    for file_id in ids:
        file = files[file_id]
        if file.uploader_id != cmd.sender_id or file.purpose != "attachment":
            return _reject(
                "bad_request",
                "You can only attach files you uploaded as attachments.",
                "attachments",
            )
        if file.created_at < now - ATTACH_WITHIN:
            return _reject(
                "bad_request",
                "A file uploaded more than 23 hours ago cannot be attached; upload it again.",
                "attachments",
            )
    return None


def _reused() -> Rejected:
    return _reject(
        "client_msg_id_reused",
        "This client_msg_id was already used for a different message.",
    )


def _stray_field(cmd: SendCommand, *, allowed: tuple[str, ...]) -> Rejected | None:
    """A field that does not belong to the command's kind is refused, never ignored."""
    for name in ("target_id", "emoji", "added", "thread_root_id", "attachments"):
        if name not in allowed and getattr(cmd, name) is not None:
            return _reject("bad_request", f"Entries of kind '{cmd.kind}' take no {name}.", name)
    return None


def plan_batch(
    commands: Sequence[SendCommand],
    rooms: Mapping[UUID, RoomState],
    existing: Mapping[tuple[UUID, UUID], Stored],
    *,
    now: datetime,
    new_id: Callable[[], UUID],
    targets: Mapping[UUID, Target] | None = None,
    files: Mapping[UUID, FileInfo] | None = None,
) -> BatchPlan:
    """Decide every command in arrival order.

    `existing` maps (sender_id, client_msg_id) to the stored entry or no-op receipt for every
    pair of the batch that is already in the database. Dedup is checked before anything else,
    so a retry of a committed send is acknowledged even if the rules would refuse it now; the
    same client_msg_id with another room or content (the content hash) is
    `client_msg_id_reused`. `targets` holds the stored entries the commands name (their
    `target_id`, and the entries of repeats whose state is not their own), with their reactions.
    `files` holds the files the batch's text entries attach that message-service knows.
    """
    planner = _Planner(rooms, existing, targets or {}, now, new_id, files or {})
    outcomes = planner.plan.outcomes
    for cmd in commands:
        outcomes.append(planner.decide(cmd))
    return planner.finish()
