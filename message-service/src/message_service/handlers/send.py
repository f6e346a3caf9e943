"""`message.send.v1` from the send shards this process holds, in one batch (group commit,
README "Send path"), committed only under their leases (ADR 0008)."""

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

from message_service import metrics, store
from message_service.domain.sending import SendCommand
from message_service.handlers.deps import BusDeps, in_transaction
from message_service.leases import Fence, LeaseLost
from message_service.services import events, sending

log = get_logger(__name__)

INTERNAL_REJECTION = "The message could not be saved because of an error on our side."

SendEnvelope = Envelope[types.MessageSendV1]


def _command(env: SendEnvelope, features: Features) -> SendCommand:
    body = env.body
    shape = SendShape.of(body, unknown=unknown_fields(types.MessageSendV1, env.raw))
    refusal = send_refusal(shape, features)
    # An api-v1.1 A entry whose feature is on carries its fields (the planner judges them per
    # kind); plain text (the hot path) and a refused addition read none of them.
    entry = refusal is None and not shape.is_plain_text
    return SendCommand(
        client_msg_id=UUID(body.client_msg_id),
        room_id=UUID(body.room_id),
        sender_id=UUID(body.sender_id),
        text=body.text if isinstance(body.text, str) else "",
        refusal=refusal,
        kind=shape.kind if entry else "text",
        target_id=UUID(body.target_id) if entry and isinstance(body.target_id, str) else None,
        emoji=body.emoji if entry and isinstance(body.emoji, str) else None,
        added=body.added if entry and isinstance(body.added, bool) else None,
        thread_root_id=(
            UUID(body.thread_root_id) if entry and isinstance(body.thread_root_id, str) else None
        ),
        # Mentions are parsed (text and edit entries) while the feature is on.
        mentions_on=refusal is None and "mentions" in features.on,
        attachments=(
            tuple(UUID(f) for f in body.attachments)
            if entry and isinstance(body.attachments, list)
            else None
        ),
    )


def is_last_delivery(env: Envelope[Any], delivery_limit: int) -> bool:
    return env.delivery_count >= delivery_limit


async def _send(deps: BusDeps, commands: Sequence[SendCommand], fence: Fence | None = None) -> None:
    async def work(session: AsyncSession) -> None:
        if fence is not None:
            await fence.check(session)  # first: raises LeaseLost, nothing is written
        await sending.send_messages(session, commands)

    await in_transaction(deps, work)


Pair = tuple[SendEnvelope, SendCommand]


async def _commit(deps: BusDeps, pairs: list[Pair], released: list[SendEnvelope]) -> list[Pair]:
    """Commit these sends in one transaction under their shards' leases; returns what was
    committed. Deliveries of shards this process does not hold, or finds lost at the fence, go
    to `released` (their queues are given back) and the rest is committed without them."""
    leases = deps.leases
    if leases is None:  # CHAT_SEND_LEASES=false: single-active-consumer alone decides
        await _send(deps, [cmd for _, cmd in pairs])
        return pairs
    while True:
        held: list[Pair] = []
        shards: set[int] = set()
        for env, cmd in pairs:
            shard = leases.shard_of(env.queue)
            if shard is not None and leases.holds(shard):
                held.append((env, cmd))
                shards.add(shard)
            else:
                released.append(env)
        if not held:
            return []
        try:
            await _send(deps, [cmd for _, cmd in held], leases.fence(shards))
            return held
        except LeaseLost as lost:
            log.warning("send_batch_fenced", shards=sorted(lost.shards), size=len(held))
            leases.lost(lost.shards)  # no longer held: released in the next round of the loop
            pairs = held


async def handle_batch(deps: BusDeps, envelopes: list[Envelope[Any]]) -> BatchResult | None:
    """Persist a batch of `message.send.v1` commands in one transaction.

    The transaction first takes the fence of the batch's shards (their lease rows, at the epochs
    this process acquired); deliveries of a shard not held, or lost, are not committed but
    released: the consumer gives that shard's queue back, its deliveries in order, to whoever
    holds the lease now.

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
    pairs = [(env, _command(env, deps.features)) for env in sends]
    released: list[SendEnvelope] = []
    try:
        committed = await _commit(deps, pairs, released)
        metrics.committed([env for env, _ in committed])
        return _released(released) if released else None
    except InfrastructureError:
        raise
    except Exception as exc:
        log.warning("send_batch_failed", size=len(pairs), error=repr(exc))

    gone = {id(env) for env in released}
    pairs = [(env, cmd) for env, cmd in pairs if id(env) not in gone]
    failed: list[Pair] = []
    if len(pairs) == 1:
        failed.append(pairs[0])
    else:
        for env, cmd in pairs:
            try:
                committed = await _commit(deps, [(env, cmd)], released)
                metrics.committed([e for e, _ in committed])
            except InfrastructureError:
                raise
            except Exception as exc:
                log.warning(
                    "send_command_failed", client_msg_id=str(cmd.client_msg_id), error=repr(exc)
                )
                failed.append((env, cmd))
    result = _released(released)  # the rest (committed) is acked
    for env, cmd in failed:
        if await _lease_lost(deps, env):
            result.release(env)  # a requeue would come straight back here, out of order
            continue
        if is_last_delivery(env, deps.delivery_limit):
            await _tell_sender(deps, cmd)
            result.dead_letter(env)
            metrics.dead_lettered()
        else:
            result.retry(env)
            metrics.retried()
    return result


async def _lease_lost(deps: BusDeps, env: SendEnvelope) -> bool:
    """Before a failed command is requeued (it comes back to this replica): is its shard's
    lease still this process's? Asked of the database (the fence alone), not just the keeper."""
    leases = deps.leases
    if leases is None:
        return False
    shard = leases.shard_of(env.queue)
    if shard is None or not leases.holds(shard):
        return True
    fence = leases.fence({shard})
    try:
        await in_transaction(deps, fence.check)
    except LeaseLost as lost:
        leases.lost(lost.shards)
        return True
    return False


def _released(envelopes: list[SendEnvelope]) -> BatchResult:
    result = BatchResult()
    for env in envelopes:
        result.release(env)
    return result


async def _tell_sender(deps: BusDeps, cmd: SendCommand) -> None:
    log.error("send_command_dead_lettered", client_msg_id=str(cmd.client_msg_id))

    async def work(session: AsyncSession) -> None:
        await add_events(
            session, store.outbox, [events.rejected_event(cmd, "internal", INTERNAL_REJECTION)]
        )

    await in_transaction(deps, work)
