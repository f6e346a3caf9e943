"""`message.send.v1` from every send shard, in one batch (group commit, README "Send path")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from chat_contracts import names, types, unknown_fields
from chat_runtime.features import Features, SendShape, send_refusal
from chat_runtime.logging import get_logger
from chat_runtime.messaging import BatchResult, Envelope, InfrastructureError
from chat_runtime.messaging.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from message_service import store
from message_service.domain.sending import SendCommand
from message_service.handlers.deps import BusDeps, in_transaction
from message_service.services import events, sending

log = get_logger(__name__)

INTERNAL_REJECTION = "The message could not be saved because of an error on our side."

SendEnvelope = Envelope[types.MessageSendV1]


def _command(env: SendEnvelope, features: Features) -> SendCommand:
    body = env.body
    shape = SendShape.of(body, unknown=unknown_fields(types.MessageSendV1, env.raw))
    return SendCommand(
        client_msg_id=UUID(body.client_msg_id),
        room_id=UUID(body.room_id),
        sender_id=UUID(body.sender_id),
        text=body.text if isinstance(body.text, str) else "",
        refusal=send_refusal(shape, features),
    )


def is_last_delivery(env: Envelope[Any], delivery_limit: int) -> bool:
    return env.delivery_count >= delivery_limit


async def _send(deps: BusDeps, commands: Sequence[SendCommand]) -> None:
    async def work(session: AsyncSession) -> None:
        await sending.send_messages(session, commands)

    await in_transaction(deps, work)


async def handle_batch(deps: BusDeps, envelopes: list[Envelope[Any]]) -> BatchResult | None:
    """Persist a batch of `message.send.v1` commands in one transaction.

    When the batch fails for a reason other than infrastructure, each command is retried on its
    own so one poison command does not take its neighbours with it. Only the commands that still
    fail are settled otherwise: requeued (`retry`, counted against the queue's delivery limit),
    or on their last allowed delivery dead-lettered to their `.dead` queue after the sender is
    told with `message.rejected.v1` code `internal`. Infrastructure errors propagate: the runner
    holds the batch and retries it.
    """
    sends: list[SendEnvelope] = [e for e in envelopes if e.type_name == names.MESSAGE_SEND_V1]
    if not sends:
        return None  # other types on this queue are acked and ignored (api-v1 §7)
    commands = [_command(env, deps.features) for env in sends]
    try:
        await _send(deps, commands)
        return None
    except InfrastructureError:
        raise
    except Exception as exc:
        log.warning("send_batch_failed", size=len(commands), error=repr(exc))

    failed: list[tuple[SendEnvelope, SendCommand]] = []
    if len(commands) == 1:
        failed.append((sends[0], commands[0]))
    else:
        for env, cmd in zip(sends, commands, strict=True):
            try:
                await _send(deps, [cmd])
            except InfrastructureError:
                raise
            except Exception as exc:
                log.warning(
                    "send_command_failed", client_msg_id=str(cmd.client_msg_id), error=repr(exc)
                )
                failed.append((env, cmd))
    result = BatchResult()  # the rest (committed) is acked
    for env, cmd in failed:
        if is_last_delivery(env, deps.delivery_limit):
            await _tell_sender(deps, cmd)
            result.dead_letter(env)
        else:
            result.retry(env)
    return result


async def _tell_sender(deps: BusDeps, cmd: SendCommand) -> None:
    log.error("send_command_dead_lettered", client_msg_id=str(cmd.client_msg_id))

    async def work(session: AsyncSession) -> None:
        await add_events(
            session, store.outbox, [events.rejected_event(cmd, "internal", INTERNAL_REJECTION)]
        )

    await in_transaction(deps, work)
