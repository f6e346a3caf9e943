"""Broker handlers of message-service as plain functions of their dependencies.

The composition root (app.py) binds `BusDeps` with functools.partial and hands the results to the
runtime's consumer runner, which validates bodies, acks after a handler returns, requeues when it
raises and holds deliveries while it raises InfrastructureError.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from uuid import UUID

from chat_runtime.db import is_infrastructure_error
from chat_runtime.logging import get_logger
from chat_runtime.messaging import Envelope, InfrastructureError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from message_service import services, store
from message_service.domain.sending import SendCommand

log = get_logger(__name__)

T = TypeVar("T")

INTERNAL_REJECTION = "The message could not be saved because of an error on our side."


@dataclass(frozen=True, slots=True)
class BusDeps:
    sessions: async_sessionmaker[AsyncSession]
    relay: store.Notifier | None
    # x-delivery-limit of the command queues: the delivery after that many returns is the last.
    delivery_limit: int
    dead_letter: DeadLetter | None = None


class DeadLetter(Protocol):
    async def __call__(self, env: Envelope, reason: str) -> None: ...


class CommandFailed(Exception):
    """Some commands of a batch failed for a reason other than infrastructure."""


async def in_transaction(deps: BusDeps, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction; a database outage becomes InfrastructureError."""
    try:
        async with store.UnitOfWork(deps.sessions, deps.relay) as session:
            return await work(session)
    except InfrastructureError:
        raise
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise InfrastructureError(f"database unavailable: {exc}") from exc
        raise


def _command(env: Envelope) -> SendCommand:
    body = env.body
    return SendCommand(
        client_msg_id=UUID(body["client_msg_id"]),
        room_id=UUID(body["room_id"]),
        sender_id=UUID(body["sender_id"]),
        text=body["text"],
    )


def is_last_delivery(env: Envelope, delivery_limit: int) -> bool:
    return env.delivery_count >= delivery_limit


async def _send(deps: BusDeps, commands: Sequence[SendCommand]) -> None:
    async def work(session: AsyncSession) -> None:
        await services.send_messages(session, commands)

    await in_transaction(deps, work)


async def handle_send_batch(deps: BusDeps, envelopes: list[Envelope]) -> None:
    """Persist a batch of `message.send.v1` commands in one transaction.

    When the batch fails for a reason other than infrastructure, each command is retried on its
    own so one poison command does not take its neighbours with it; the ones that still fail are
    requeued by raising (the delivery limit then dead-letters them), and on their last allowed
    delivery the sender is told with `message.rejected.v1` code `internal`.
    """
    envelopes = [env for env in envelopes if env.type_name == "message.send.v1"]
    if not envelopes:
        return  # other types on this queue are acked and ignored (api-v1 §7)
    commands = [_command(env) for env in envelopes]
    try:
        await _send(deps, commands)
        return
    except InfrastructureError:
        raise
    except Exception as exc:
        log.warning("send_batch_failed", size=len(commands), error=repr(exc))
        first_error = exc

    failed: list[tuple[Envelope, SendCommand]] = []
    if len(commands) == 1:
        failed.append((envelopes[0], commands[0]))
    else:
        for env, cmd in zip(envelopes, commands, strict=True):
            try:
                await _send(deps, [cmd])
            except InfrastructureError:
                raise
            except Exception as exc:
                log.warning(
                    "send_command_failed", client_msg_id=str(cmd.client_msg_id), error=repr(exc)
                )
                failed.append((env, cmd))
    if not failed:
        return
    last = [(env, cmd) for env, cmd in failed if is_last_delivery(env, deps.delivery_limit)]
    for _, cmd in last:
        await _tell_sender(deps, cmd)
    if deps.dead_letter is not None and len(last) == len(failed):
        # The runtime settles a batch as a whole: letting the broker dead-letter these would
        # requeue (and finally dead-letter) their committed neighbours too. Move them to their
        # `.dead` queue ourselves (confirmed) and let the batch be acked.
        for env, _ in last:
            await deps.dead_letter(env, repr(first_error))
        return
    raise CommandFailed(f"{len(failed)} send command(s) failed") from first_error


async def _tell_sender(deps: BusDeps, cmd: SendCommand) -> None:
    log.error("send_command_dead_lettered", client_msg_id=str(cmd.client_msg_id))

    async def work(session: AsyncSession) -> None:
        await services.emit_rejected(
            session,
            client_msg_id=str(cmd.client_msg_id),
            room_id=str(cmd.room_id),
            sender_id=str(cmd.sender_id),
            code="internal",
            message=INTERNAL_REJECTION,
        )

    await in_transaction(deps, work)


async def handle_read(deps: BusDeps, env: Envelope) -> None:
    """`room.read.v1`: move a member's read position (clamped, never back) and announce it."""
    room_id, user_id, seq = (
        UUID(env.body["room_id"]),
        UUID(env.body["user_id"]),
        int(env.body["seq"]),
    )

    async def work(session: AsyncSession) -> None:
        await services.mark_read(session, room_id, user_id, seq)

    await in_transaction(deps, work)


async def handle_user_registered(deps: BusDeps, env: Envelope) -> None:
    """`auth.user.registered.v1`: keep the local user directory (used for DMs and invites)."""
    user = env.body["user"]

    async def work(session: AsyncSession) -> None:
        await services.record_user(session, user)

    await in_transaction(deps, work)


async def answer_membership_query(
    deps: BusDeps, body: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """`membership.query.v1` {user_id} -> `membership.reply.v1` {user_id, room_ids}."""
    user_id = UUID(body["user_id"])

    async def work(session: AsyncSession) -> list[UUID]:
        return await store.room_ids_of_user(session, user_id)

    room_ids = await in_transaction(deps, work)
    return "membership.reply.v1", {"user_id": str(user_id), "room_ids": [str(r) for r in room_ids]}
