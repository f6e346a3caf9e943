"""Sending: a batch of commands (the consumer's group commit) or one entry over REST, every kind
of api-v1.1 A through the same path: lock the rooms, find repeats, read the targets, plan,
write, and write the events in the same transaction."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

from chat_runtime.messaging.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain import errors
from message_service.domain.mentions import (
    ParsedMentions,
    may_mention_room,
    parse_mentions,
    resolve_mentions,
)
from message_service.domain.model import CHANGE_KINDS
from message_service.domain.sending import (
    Created,
    Duplicate,
    Noop,
    NoopSend,
    Outcome,
    Rejected,
    RoomState,
    SendCommand,
    Stored,
    Target,
    plan_batch,
)
from message_service.services.access import member_room
from message_service.services.events import outcome_events
from message_service.store import files, message_writes, user_directory


def _target_ids(commands: Sequence[SendCommand], existing: Iterable[Stored]) -> set[UUID]:
    """The stored entries the plan needs with their state: the targets of change entries, the
    roots of replies, and the entries repeats answer with whose state is not their own."""
    ids = {
        c.target_id
        for c in commands
        if c.target_id is not None and c.kind in CHANGE_KINDS and c.refusal is None
    }
    ids.update(
        c.thread_root_id
        for c in commands
        if c.thread_root_id is not None and c.kind == "text" and c.refusal is None
    )
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
        session, ((c.room_id, c.sender_id) for c in commands), with_roles=_needs_roles(commands)
    )
    existing = await message_writes.stored_by_client_ids(
        session, ((c.sender_id, c.client_msg_id) for c in commands)
    )
    commands = await _with_mentions(session, commands, room_states)
    wanted = _target_ids(commands, existing.values())
    targets = await message_writes.load_targets(session, wanted, room_states) if wanted else {}
    if targets:
        # A deleted reply counts one reply less on its root: the roots of deleted replies too.
        roots = _roots_of_deleted(commands, targets) - targets.keys()
        if roots:
            targets = {**targets, **await message_writes.load_targets(session, roots, room_states)}
    wanted_files = _file_ids(commands)
    known = await files.known_files(session, wanted_files) if wanted_files else {}
    plan = plan_batch(
        commands, room_states, existing, now=now, new_id=new_id, targets=targets, files=known
    )
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


def _file_ids(commands: Sequence[SendCommand]) -> set[UUID]:
    """The files the batch's text entries attach (api-v1.1 E); none for plain batches, which
    then read no file."""
    return {
        file_id
        for c in commands
        if c.attachments and c.kind == "text" and c.refusal is None
        for file_id in c.attachments
    }


def _needs_roles(commands: Sequence[SendCommand]) -> bool:
    """Whether the batch needs to know which senders are room admins by their workspace role
    (api-v1.1 C): a delete (of another's entry, or in an archived room) or a text that may say
    `@room`. Plain batches do not, and their lock statement skips the lookup."""
    return any(
        c.kind == "delete" or (c.mentions_on and "@" in c.text)
        for c in commands
        if c.refusal is None
    )


def _roots_of_deleted(commands: Sequence[SendCommand], targets: Mapping[UUID, Target]) -> set[UUID]:
    roots: set[UUID] = set()
    for cmd in commands:
        if cmd.kind == "delete" and cmd.target_id is not None and cmd.refusal is None:
            target = targets.get(cmd.target_id)
            if target is not None and target.message.thread_root_id is not None:
                roots.add(target.message.thread_root_id)
    return roots


async def _with_mentions(
    session: AsyncSession, commands: Sequence[SendCommand], rooms: Mapping[UUID, RoomState]
) -> Sequence[SendCommand]:
    """The commands with their mentions resolved (api-v1.1 A), for those that ask for them
    (`mentions_on`): `@name` of the room's members, `@room` when the sender may use it.

    A text without `@` is not parsed and costs no query (the hot path); an edit always gets
    its mentions (empty ones replace the target's). The directory is asked once per room with
    names in the batch, member counts and roles only when someone says `@room`."""
    parsed: dict[int, ParsedMentions] = {}
    for index, cmd in enumerate(commands):
        if not cmd.mentions_on or cmd.refusal is not None or cmd.kind not in ("text", "edit"):
            continue
        if cmd.kind == "text" and "@" not in cmd.text:
            continue
        room = rooms.get(cmd.room_id)
        if room is None or cmd.sender_id not in room.members:
            continue  # refused by the planner
        found = parse_mentions(cmd.text)
        if found or cmd.kind == "edit":
            parsed[index] = found
    if not parsed:
        return commands
    names: dict[UUID, set[str]] = {}
    for index, found in parsed.items():
        names.setdefault(commands[index].room_id, set()).update(found.usernames)
    members = {
        room_id: await user_directory.usernames_to_ids(session, wanted, room_id)
        for room_id, wanted in names.items()
        if wanted
    }
    allowed = await _room_mention_allowed(
        session, [commands[i] for i, found in parsed.items() if found.room], rooms
    )
    resolved = list(commands)
    for index, found in parsed.items():
        cmd = commands[index]
        resolved[index] = dataclasses.replace(
            cmd,
            mentions=resolve_mentions(
                found,
                members.get(cmd.room_id, {}),
                room_allowed=(cmd.room_id, cmd.sender_id) in allowed,
            ),
        )
    return resolved


async def _room_mention_allowed(
    session: AsyncSession, commands: Sequence[SendCommand], rooms: Mapping[UUID, RoomState]
) -> set[tuple[UUID, UUID]]:
    """The (room, sender) pairs of these `@room` commands whose `@room` notifies: rooms of up
    to 50 members, or a room admin of the channel (api-v1.1 A; the lock read them)."""
    if not commands:
        return set()
    counts = await message_writes.member_counts(session, {c.room_id for c in commands})
    allowed: set[tuple[UUID, UUID]] = set()
    for cmd in commands:
        admin = cmd.sender_id in rooms[cmd.room_id].admins
        if may_mention_room(counts.get(cmd.room_id, 0), room_admin=admin):
            allowed.add((cmd.room_id, cmd.sender_id))
    return allowed


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
    thread_root_id: UUID | None = None,
    mentions_on: bool = False,
    attachments: Sequence[UUID] | None = None,
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
        thread_root_id=thread_root_id,
        mentions_on=mentions_on and kind in ("text", "edit"),
        attachments=tuple(attachments) if attachments is not None else None,
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
    if code == "deactivated":
        return errors.Deactivated(outcome.detail)
    if code == "archived":
        return errors.Archived(outcome.detail)
    if code == "blocked":
        return errors.Blocked(outcome.detail)
    if code == "unavailable":
        return errors.Unavailable(outcome.detail)
    return errors.InvalidField(outcome.detail, code, outcome.field or "text")
