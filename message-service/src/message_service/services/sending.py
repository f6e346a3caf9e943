"""Sending: a batch of commands (the consumer's group commit) or one entry over REST, every kind
of api-v1.1 A through the same path: lock the rooms, find repeats, read the targets, plan,
write, and write the events in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from chat_runtime.messaging.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain import errors
from message_service.domain.model import CHANGE_KINDS
from message_service.domain.sending import (
    Created,
    Duplicate,
    Noop,
    NoopSend,
    Outcome,
    Rejected,
    SendCommand,
    Stored,
    plan_batch,
)
from message_service.services.access import member_room
from message_service.services.events import outcome_events
from message_service.store import message_writes


def _target_ids(commands: Sequence[SendCommand], existing: Iterable[Stored]) -> set[UUID]:
    """The stored entries the plan needs with their state: the targets of change entries, and
    the entries repeats answer with whose state is not their own (their reactions)."""
    ids = {
        c.target_id
        for c in commands
        if c.target_id is not None and c.kind in CHANGE_KINDS and c.refusal is None
    }
    for stored in existing:
        if isinstance(stored, NoopSend):
            ids.add(stored.target_id)
        elif stored.kind == "text" and stored.state_seq is not None:
            ids.add(stored.id)
    return ids


async def send_messages(
    session: AsyncSession,
    commands: Sequence[SendCommand],
    *,
    rejections: bool = True,
    now: datetime | None = None,
    new_id: Callable[[], UUID] = uuid.uuid4,
) -> list[Outcome]:
    """Decide and persist a batch of sends; rooms are locked (in id order) until commit.

    A batch of plain text entries (the hot path) costs what it did before api-v1.1: the lock,
    the repeat lookup and one write statement; targets are read only when a command names one
    or a repeat's entry has changed since."""
    now = now or datetime.now(UTC)
    room_states = await message_writes.lock_rooms(
        session, ((c.room_id, c.sender_id) for c in commands)
    )
    existing = await message_writes.stored_by_client_ids(
        session, ((c.sender_id, c.client_msg_id) for c in commands)
    )
    wanted = _target_ids(commands, existing.values())
    targets = await message_writes.load_targets(session, wanted, room_states) if wanted else {}
    plan = plan_batch(commands, room_states, existing, now=now, new_id=new_id, targets=targets)
    await message_writes.write_batch(session, plan, now)
    await add_events(
        session,
        store.outbox,
        [
            event
            for cmd, outcome in zip(commands, plan.outcomes, strict=True)
            for event in outcome_events(cmd, outcome, rejections=rejections)
        ],
    )
    return plan.outcomes


async def send_one(
    session: AsyncSession,
    room_id: UUID,
    user_id: UUID,
    client_msg_id: UUID,
    text: str,
    *,
    kind: str = "text",
    target_id: UUID | None = None,
    emoji: str | None = None,
    added: bool | None = None,
) -> Created | Duplicate | Noop:
    """REST send of any client kind: the same rules and path as the consumer; the refusals as
    domain errors (the caller has already refused additions that are not on).

    Created: the new entry. Duplicate: the entry of the first send. Noop: the current target
    of a reaction that changed nothing (also for a repeat of such a send).
    Every `text` entry comes with its state; reactions' `me` is the caller's to add."""
    await member_room(session, room_id, user_id)
    cmd = SendCommand(
        client_msg_id=client_msg_id,
        room_id=room_id,
        sender_id=user_id,
        text=text,
        kind=kind,
        target_id=target_id,
        emoji=emoji,
        added=added,
    )
    (outcome,) = await send_messages(session, [cmd], rejections=False)
    if isinstance(outcome, Rejected):
        raise refusal_error(outcome)
    if isinstance(outcome, Duplicate) and outcome.noop:
        return Noop(outcome.message)  # the repeat of a no-op gets the same answer
    return outcome


def refusal_error(outcome: Rejected) -> errors.DomainError:
    """The REST error of a refusal (api-v1.1 A's table)."""
    code = outcome.code
    if code == "client_msg_id_reused":
        return errors.ClientMsgIdReused(outcome.detail)
    if code == "not_a_member" or code == "forbidden":
        return errors.Forbidden(outcome.detail)
    if code == "not_found":
        return errors.NotFound(outcome.detail)
    if code == "unsupported":
        return errors.Unsupported(outcome.detail)
    if code == "feature_disabled":
        return errors.FeatureDisabled(outcome.detail)
    return errors.InvalidField(outcome.detail, code, outcome.field or "text")
