"""Sending: a batch of commands (the consumer's group commit) or one message over REST."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from chat_runtime.messaging.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain import errors
from message_service.domain.sending import (
    Created,
    Duplicate,
    Outcome,
    Rejected,
    RoomState,
    SendCommand,
    plan_batch,
)
from message_service.services.access import member_room
from message_service.services.events import outcome_events
from message_service.store import message_writes


async def send_messages(
    session: AsyncSession,
    commands: Sequence[SendCommand],
    *,
    rejections: bool = True,
    now: datetime | None = None,
    new_id: Callable[[], UUID] = uuid.uuid4,
) -> list[Outcome]:
    """Decide and persist a batch of sends; rooms are locked (in id order) until commit."""
    now = now or datetime.now(UTC)
    locked = await message_writes.lock_rooms(session, ((c.room_id, c.sender_id) for c in commands))
    existing = await message_writes.messages_by_client_ids(
        session, ((c.sender_id, c.client_msg_id) for c in commands)
    )
    room_states = {
        room_id: RoomState(last_seq=seq, members=members)
        for room_id, (seq, members) in locked.items()
    }
    plan = plan_batch(commands, room_states, existing, now=now, new_id=new_id)
    await message_writes.write_batch(
        session, plan.new_messages, plan.last_seqs, plan.read_positions, now
    )
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
    session: AsyncSession, room_id: UUID, user_id: UUID, client_msg_id: UUID, text: str
) -> Created | Duplicate:
    """REST send: same rules as the consumer; domain errors for the refusals."""
    await member_room(session, room_id, user_id)
    cmd = SendCommand(client_msg_id=client_msg_id, room_id=room_id, sender_id=user_id, text=text)
    (outcome,) = await send_messages(session, [cmd], rejections=False)
    if isinstance(outcome, Rejected):
        if outcome.code == "client_msg_id_reused":
            raise errors.ClientMsgIdReused(outcome.detail)
        if outcome.code == "not_a_member":
            raise errors.Forbidden(outcome.detail)
        raise errors.InvalidText(outcome.detail, outcome.code)
    return outcome
