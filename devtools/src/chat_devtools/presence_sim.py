"""Presence test helpers: a simulated gateway, auth-service's revocation answer, and a recorder
of presence.changed.v1.

Used by presence-service's integration tests and the presence benchmark: a `SimGateway` publishes
signals exactly as a gateway does; `answer_revocation_queries` stands in for auth-service (a
token-verifying service is ready only once it has loaded the revoked sessions); an `EventLog`
records every `presence.changed.v1` with its arrival time, so tests measure latencies instead of
sleeping. Needs only the runtime and the contracts, never presence-service itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import chat_contracts
import msgspec
from chat_contracts import names, types
from chat_runtime.messaging import Broker, ConsumerHandle, Envelope, OutgoingMessage
from chat_runtime.messaging.topology import (
    declare_exchanges,
    declare_exclusive_queue,
    declare_query_queue,
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SimGateway:
    broker: Broker
    gateway_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    connections: dict[str, tuple[str, types.ConnectionStatus]] = field(default_factory=dict)

    async def _send(self, body: msgspec.Struct) -> None:
        # A gateway's signals go out with their type name as the routing key.
        message = OutgoingMessage.of(chat_contracts.contract_of(body), body)
        (await self.broker.publish(names.EXCHANGE_EVENTS, message)).raise_first()

    async def open(self, user_id: str, status: types.ConnectionStatus = "online") -> str:
        connection_id = str(uuid.uuid4())
        self.connections[connection_id] = (user_id, status)
        await self._send(
            types.PresenceConnectionOpenedV1(
                gateway_id=self.gateway_id,
                connection_id=connection_id,
                user_id=user_id,
                status=status,
                at=now_iso(),
            )
        )
        return connection_id

    async def update(self, connection_id: str, status: types.ConnectionStatus) -> None:
        user_id, _ = self.connections[connection_id]
        self.connections[connection_id] = (user_id, status)
        await self._send(
            types.PresenceConnectionUpdatedV1(
                gateway_id=self.gateway_id,
                connection_id=connection_id,
                user_id=user_id,
                status=status,
                at=now_iso(),
            )
        )

    async def close(self, connection_id: str, *, silently: bool = False) -> None:
        user_id, _ = self.connections.pop(connection_id)
        if silently:  # the signal was lost (e.g. presence-service was down)
            return
        await self._send(
            types.PresenceConnectionClosedV1(
                gateway_id=self.gateway_id,
                connection_id=connection_id,
                user_id=user_id,
                at=now_iso(),
            )
        )

    async def heartbeat(self) -> None:
        await self._send(
            types.PresenceGatewayHeartbeatV1(
                gateway_id=self.gateway_id,
                sent_at=now_iso(),
                interval_s=10,
                connections=[
                    types.HeartbeatConnection(connection_id=c, user_id=u, status=s)
                    for c, (u, s) in self.connections.items()
                ],
            )
        )

    @contextlib.asynccontextmanager
    async def heartbeating(self, every_s: float) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await self.heartbeat()
                await asyncio.sleep(every_s)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass
class Event:
    user_id: str
    status: str
    last_seen_at: str
    at: float
    message_id: str


class EventLog:
    """Every presence.changed.v1 on the vhost, in arrival order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Condition()

    async def add(self, event: Event) -> None:
        async with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()

    def of(self, user_id: str) -> list[Event]:
        return [e for e in self.events if e.user_id == user_id]

    async def wait_for(
        self, user_id: str, status: str, *, after: float = 0.0, within_s: float = 5.0
    ) -> Event:
        def found() -> Event | None:
            for e in self.events:
                if e.user_id == user_id and e.status == status and e.at >= after:
                    return e
            return None

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: found() is not None), within_s)
        event = found()
        assert event is not None
        return event


async def record_changes(broker: Broker, log: EventLog) -> ConsumerHandle:
    """Bind a queue of our own to presence.changed.v1 and feed every event into `log` (bodies
    decoded, so a change that breaks its contract never reaches the log)."""
    queue = f"presence-sim.changes.{uuid.uuid4().hex[:12]}"
    await declare_exclusive_queue(
        broker.channel, queue, bindings=[(names.EXCHANGE_EVENTS, names.PRESENCE_CHANGED_V1)]
    )

    async def add(envelope: Envelope[types.PresenceChangedV1]) -> None:
        change = envelope.body
        await log.add(
            Event(
                change.user_id,
                change.status,
                change.last_seen_at,
                time.monotonic(),
                envelope.message_id or "",
            )
        )

    return await broker.consume(queue, {names.PRESENCE_CHANGED_V1: add}, no_ack=True)


async def answer_revocation_queries(broker: Broker) -> ConsumerHandle:
    """Answer `auth.revocations.query.v1` as auth-service does when nobody has logged out."""
    await declare_exchanges(broker.channel)  # the query queue dead-letters to chat.dlx
    await declare_query_queue(broker.channel, names.AUTH_QUERY_QUEUE)

    async def none_revoked(_: Envelope[Any]) -> types.AuthRevocationsReplyV1:
        return types.AuthRevocationsReplyV1(sessions=[])

    return await broker.serve(names.AUTH_QUERY_QUEUE, names.AUTH_REVOCATIONS_QUERY_V1, none_revoked)
