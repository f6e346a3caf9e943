"""Signal handlers: gateway signals applied to this replica's state, and the queue they arrive on.

Every replica has its own exclusive queue bound to every signal, so it holds the full state.
Applying a signal twice changes nothing (idempotent), so a repeated signal is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable

from aio_pika.abc import AbstractChannel
from chat_contracts import names, types
from chat_runtime.messaging import Envelope, Handler
from chat_runtime.messaging.topology import declare_exclusive_queue

from presence_service.service import PresenceService

Opened = types.PresenceConnectionOpenedV1 | types.PresenceConnectionUpdatedV1


def handlers(service: PresenceService, revocations: Handler | None) -> dict[str, Handler]:
    """By message type. `revocations`: the host's handler of revoked sessions (this replica is
    a token verifier too), None when the host has no revocation set (a test's fake verifier)."""

    async def opened(envelope: Envelope[Opened]) -> None:
        service.connection_opened(envelope.body)

    async def closed(envelope: Envelope[types.PresenceConnectionClosedV1]) -> None:
        service.connection_closed(envelope.body)

    async def heartbeat(envelope: Envelope[types.PresenceGatewayHeartbeatV1]) -> None:
        service.heartbeat(envelope.body)

    table: dict[str, Handler] = {
        names.PRESENCE_CONNECTION_OPENED_V1: opened,
        names.PRESENCE_CONNECTION_UPDATED_V1: opened,
        names.PRESENCE_CONNECTION_CLOSED_V1: closed,
        names.PRESENCE_GATEWAY_HEARTBEAT_V1: heartbeat,
    }
    if revocations is not None:
        table[names.AUTH_SESSION_REVOKED_V1] = revocations
    return table


async def declare_queue(channel: AbstractChannel, queue: str, type_names: Iterable[str]) -> None:
    """The replica's exclusive auto-delete queue, bound to each type it handles (their routing
    key is the type name). Declared on the robust channel: re-created with its bindings after a
    reconnect."""
    await declare_exclusive_queue(
        channel, queue, bindings=[(names.EXCHANGE_EVENTS, type_name) for type_name in type_names]
    )
