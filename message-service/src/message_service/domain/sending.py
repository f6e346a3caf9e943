"""Decisions for a batch of send commands: dedup, membership, the target and authority rules of
api-v1.1 A, content rules and gapless seq.

Given the current state of the touched rooms and targets (read under the rooms' locks) this
decides, in arrival order, what happens to each command, and what the batch writes: the new
entries, the targets' new state, reaction rows, no-op receipts. It never does I/O, so the batch
consumer and the REST endpoint share it and it can be property-tested.

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
from datetime import datetime
from typing import Literal, cast
from uuid import UUID

from chat_contracts.emoji import MAX_DISTINCT_PER_MESSAGE, is_rgi
from chat_runtime.features import Refusal

from message_service.domain.entries import aggregate_reactions, content_hash, stored_hash
from message_service.domain.model import Message, MessageKind, ReactionMark, RoomKind
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
]

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

    def content_hash(self) -> bytes:
        text = self.text if self.kind in ("text", "edit") else ""
        return content_hash(self.room_id, self.kind, self.target_id, text, self.emoji, self.added)


@dataclass(frozen=True, slots=True)
class RoomState:
    last_seq: int
    members: frozenset[UUID]  # at least the batch's senders that are members
    kind: RoomKind = "channel"
    created_by: UUID | None = None  # the channel's admin until roles exist (api-v1.1 C)


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


def _reject(code: RejectCode, detail: str, field_name: str | None = None) -> Rejected:
    return Rejected(code, detail, field_name)


_NOT_FOUND = "There is no such message in this room, or it was deleted."


class _Planner:
    def __init__(
        self,
        rooms: Mapping[UUID, RoomState],
        existing: Mapping[tuple[UUID, UUID], Stored],
        targets: Mapping[UUID, Target],
        now: datetime,
        new_id: Callable[[], UUID],
    ) -> None:
        self.rooms = rooms
        self.existing = existing
        self.targets = targets
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
        if kind == "text" or kind == "system":
            if cmd.target_id is not None or cmd.emoji is not None or cmd.added is not None:
                stray = _stray_field(cmd, allowed=())
                assert stray is not None
                return stray
            problem = text_problem(cmd.text)
            if problem is not None:
                return _reject(problem[0], problem[1], "text")
            return Created(self.create(cmd, room, digest))
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
        if kind == "edit" and not own:
            return _reject("forbidden", "You can only edit your own messages.")
        if (
            kind == "delete"
            and not own
            and not (room.kind == "channel" and cmd.sender_id == room.created_by)
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
        entry = self.create(cmd, room, digest)
        self.apply(target, entry)
        return Created(entry)

    # --- effects -----------------------------------------------------------------------------

    def create(self, cmd: SendCommand, room: RoomState, digest: bytes) -> Message:
        plan = self.plan
        seq = plan.last_seqs.get(cmd.room_id, room.last_seq) + 1
        kind = cast(MessageKind, cmd.kind)  # one of _KINDS: checked by decide()
        if kind == "text":  # the hot path: nothing but the v1 fields and the hash
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
            )
        plan.new_messages.append(message)
        self.seen[(cmd.sender_id, cmd.client_msg_id)] = message
        plan.last_seqs[cmd.room_id] = seq
        if kind == "text":
            # Only text entries are read by sending them and move the room (api-v1.1 B).
            plan.read_positions[(cmd.room_id, cmd.sender_id)] = seq
        return message

    def apply(self, target: _State, entry: Message) -> None:
        current = target.message
        # Rows from before api-v1.1 have no content hash: keep the one of their first text
        # before it changes, so a late repeat of the original send is still a duplicate.
        digest = stored_hash(current)
        if entry.kind == "edit":
            target.message = dataclasses.replace(
                current,
                text=entry.text,
                edited_at=entry.created_at,
                state_seq=entry.seq,
                content_hash=digest,
            )
            target.edit_indexes.append(len(self.plan.new_messages) - 1)
        elif entry.kind == "delete":
            target.message = dataclasses.replace(
                current, text="", deleted=True, state_seq=entry.seq, content_hash=digest
            )
            target.marks.clear()
            new = self.plan.new_messages
            for index in target.edit_indexes:
                new[index] = dataclasses.replace(new[index], text="")
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

    # --- the batch's result ------------------------------------------------------------------

    def finish(self) -> BatchPlan:
        plan = self.plan
        if not self.states:
            return plan  # plain sends only: every outcome already names its final message
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
                    message, text=""
                )
        plan.outcomes = [_resolved(o, finals, deleted) for o in plan.outcomes]
        return plan


def _resolved(outcome: Outcome, finals: Mapping[UUID, Message], deleted: set[UUID]) -> Outcome:
    if isinstance(outcome, Rejected):
        return outcome
    message = finals.get(outcome.message.id, outcome.message)
    if message.kind == "edit" and message.target_id in deleted and message.text:
        # A stored edit whose target this batch deleted (the store erases its row).
        message = dataclasses.replace(message, text="")
    if message is outcome.message:
        return outcome
    return dataclasses.replace(outcome, message=message)


def _reused() -> Rejected:
    return _reject(
        "client_msg_id_reused",
        "This client_msg_id was already used for a different message.",
    )


def _stray_field(cmd: SendCommand, *, allowed: tuple[str, ...]) -> Rejected | None:
    """A field that does not belong to the command's kind is refused, never ignored."""
    for name in ("target_id", "emoji", "added"):
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
) -> BatchPlan:
    """Decide every command in arrival order.

    `existing` maps (sender_id, client_msg_id) to the stored entry or no-op receipt for every
    pair of the batch that is already in the database. Dedup is checked before anything else,
    so a retry of a committed send is acknowledged even if the rules would refuse it now; the
    same client_msg_id with another room or content (the content hash) is
    `client_msg_id_reused`. `targets` holds the stored entries the commands name (their
    `target_id`, and the entries of repeats whose state is not their own), with their reactions.
    """
    planner = _Planner(rooms, existing, targets or {}, now, new_id)
    outcomes = planner.plan.outcomes
    for cmd in commands:
        outcomes.append(planner.decide(cmd))
    return planner.finish()
