"""Decisions for a batch of send commands: dedup, membership, text rules and gapless seq.

Given the current state of the touched rooms (read under lock) this decides, in arrival order,
what happens to each command. It never does I/O, so the batch consumer and the REST endpoint share
it and it can be property-tested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from chat_runtime.features import Refusal

from message_service.domain.model import Message
from message_service.domain.text import text_problem

RejectCode = Literal[
    "bad_request",
    "not_a_member",
    "message_too_long",
    "client_msg_id_reused",
    "unsupported",
    "feature_disabled",
]


@dataclass(frozen=True, slots=True)
class SendCommand:
    client_msg_id: UUID
    room_id: UUID
    sender_id: UUID
    text: str
    # Set when the command asks for an api-v1.1 addition that is not on here: it is refused
    # with this code, before anything else, and never stored as a plain text message.
    refusal: Refusal | None = None


@dataclass(frozen=True, slots=True)
class RoomState:
    last_seq: int
    members: frozenset[UUID]  # at least the batch's senders that are members


@dataclass(frozen=True, slots=True)
class Created:
    message: Message


@dataclass(frozen=True, slots=True)
class Duplicate:
    message: Message
    # False when the original is created in this same batch: its created event is already owed.
    reemit_created: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    code: RejectCode
    detail: str


Outcome = Created | Duplicate | Rejected


@dataclass(slots=True)
class BatchPlan:
    outcomes: list[Outcome] = field(default_factory=list)
    new_messages: list[Message] = field(default_factory=list)
    last_seqs: dict[UUID, int] = field(default_factory=dict)
    # (room_id, user_id) -> seq the sender has now read (their own newest message)
    read_positions: dict[tuple[UUID, UUID], int] = field(default_factory=dict)


def plan_batch(
    commands: Sequence[SendCommand],
    rooms: Mapping[UUID, RoomState],
    existing: Mapping[tuple[UUID, UUID], Message],
    *,
    now: datetime,
    new_id: Callable[[], UUID],
) -> BatchPlan:
    """Decide every command in arrival order.

    `existing` maps (sender_id, client_msg_id) to the stored message for every pair of the batch
    that is already in the database. Dedup is checked before anything else, so a retry of a
    committed message is acknowledged even if the rules would refuse it now.
    """
    plan = BatchPlan()
    seen: dict[tuple[UUID, UUID], Message] = {}
    for cmd in commands:
        if cmd.refusal is not None:
            plan.outcomes.append(Rejected(cmd.refusal.code, cmd.refusal.detail))
            continue
        key = (cmd.sender_id, cmd.client_msg_id)
        earlier = existing.get(key)
        in_batch = earlier is None and key in seen
        if earlier is None:
            earlier = seen.get(key)
        if earlier is not None:
            if earlier.room_id == cmd.room_id:
                plan.outcomes.append(Duplicate(earlier, reemit_created=not in_batch))
            else:
                plan.outcomes.append(
                    Rejected(
                        "client_msg_id_reused",
                        "This client_msg_id was already used for a message in another room.",
                    )
                )
            continue
        state = rooms.get(cmd.room_id)
        if state is None or cmd.sender_id not in state.members:
            plan.outcomes.append(Rejected("not_a_member", "You are not a member of this room."))
            continue
        problem = text_problem(cmd.text)
        if problem is not None:
            plan.outcomes.append(Rejected(problem[0], problem[1]))
            continue
        seq = plan.last_seqs.get(cmd.room_id, state.last_seq) + 1
        message = Message(
            id=new_id(),
            room_id=cmd.room_id,
            seq=seq,
            kind="text",
            sender_id=cmd.sender_id,
            text=cmd.text,
            client_msg_id=cmd.client_msg_id,
            created_at=now,
        )
        seen[key] = message
        plan.last_seqs[cmd.room_id] = seq
        plan.read_positions[(cmd.room_id, cmd.sender_id)] = seq
        plan.new_messages.append(message)
        plan.outcomes.append(Created(message))
    return plan
