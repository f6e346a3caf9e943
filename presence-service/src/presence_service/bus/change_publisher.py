"""The change publisher: one round of `presence.changed.v1`, confirmed and persistent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from chat_contracts import names, types
from chat_runtime.messaging import Broker, OutgoingMessage

from presence_service.domain.announcer import Change
from presence_service.timestamps import rfc3339

Publish = Callable[[Sequence[Change]], Awaitable[None]]


def change_event(change: Change) -> types.PresenceChangedV1:
    return types.PresenceChangedV1(
        user_id=change.user_id,
        status=change.status,
        last_seen_at=rfc3339(change.last_seen_at),
    )


def change_publisher(broker: Broker) -> Publish:
    """Publish one round of changes: confirmed, persistent (api-v1 §7), all in flight at once
    (one producer span and one deadline per round, each message with its own message_id).
    Returns once every message is confirmed; raises the first failure."""

    async def publish(changes: Sequence[Change]) -> None:
        messages = [
            OutgoingMessage.of(names.PRESENCE_CHANGED_V1, change_event(change))
            for change in changes
        ]
        (await broker.publish(names.EXCHANGE_EVENTS, messages)).raise_first()

    return publish
