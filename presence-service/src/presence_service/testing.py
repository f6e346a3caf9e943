"""Test helpers for presence: a simulated gateway and a recorder of presence.changed.v1.

Used by this package's integration tests, the cross-service e2e tests and the benchmark: a
`SimGateway` publishes signals exactly as a gateway does; an `EventLog` records every
`presence.changed.v1` with its arrival time, so tests measure latencies instead of sleeping.
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

import aio_pika
import orjson
from chat_runtime.messaging import EXCHANGE_EVENTS, Broker
from chat_runtime.tokens import AccessClaims
from fastapi import FastAPI

from presence_service.app import create_presence_app
from presence_service.deps import current_user
from presence_service.settings import PresenceSettings


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SimGateway:
    broker: Broker
    gateway_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    connections: dict[str, tuple[str, str]] = field(default_factory=dict)

    async def _send(self, type_name: str, body: dict[str, Any]) -> None:
        await self.broker.publish(EXCHANGE_EVENTS, type_name, type_name, body)

    async def open(self, user_id: str, status: str = "online") -> str:
        connection_id = str(uuid.uuid4())
        self.connections[connection_id] = (user_id, status)
        await self._send(
            "presence.connection.opened.v1",
            {
                "gateway_id": self.gateway_id,
                "connection_id": connection_id,
                "user_id": user_id,
                "status": status,
                "at": now_iso(),
            },
        )
        return connection_id

    async def update(self, connection_id: str, status: str) -> None:
        user_id, _ = self.connections[connection_id]
        self.connections[connection_id] = (user_id, status)
        await self._send(
            "presence.connection.updated.v1",
            {
                "gateway_id": self.gateway_id,
                "connection_id": connection_id,
                "user_id": user_id,
                "status": status,
                "at": now_iso(),
            },
        )

    async def close(self, connection_id: str, *, silently: bool = False) -> None:
        user_id, _ = self.connections.pop(connection_id)
        if silently:  # the signal was lost (e.g. presence-service was down)
            return
        await self._send(
            "presence.connection.closed.v1",
            {
                "gateway_id": self.gateway_id,
                "connection_id": connection_id,
                "user_id": user_id,
                "at": now_iso(),
            },
        )

    async def heartbeat(self) -> None:
        await self._send(
            "presence.gateway.heartbeat.v1",
            {
                "gateway_id": self.gateway_id,
                "sent_at": now_iso(),
                "interval_s": 10,
                "connections": [
                    {"connection_id": c, "user_id": u, "status": s}
                    for c, (u, s) in self.connections.items()
                ],
            },
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


@dataclass
class PresenceEnv:
    database_url: str
    amqp_url: str
    broker: Broker
    log: EventLog

    def settings(self, **overrides: Any) -> PresenceSettings:
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "amqp_url": self.amqp_url,
            "gateway_silence_s": 30.0,
            "heartbeat_interval_s": 10.0,
            "recovery_margin_s": 2.0,
            "sweep_interval_s": 0.2,
            "lock_retry_s": 0.5,
            "jwks_url": "http://127.0.0.1:9/unused",
            "replica_id": uuid.uuid4().hex,
        }
        values.update(overrides)
        return PresenceSettings(**values)

    def gateway(self) -> SimGateway:
        return SimGateway(self.broker)

    @contextlib.asynccontextmanager
    async def replica(self, **overrides: Any) -> AsyncIterator[FastAPI]:
        # The fixture has migrated the database once; replicas skip the (slow) alembic run.
        app = create_presence_app(self.settings(**overrides), migrate=False)
        claims = AccessClaims(
            user_id=str(uuid.uuid4()),
            session_id=str(uuid.uuid4()),
            jti=str(uuid.uuid4()),
            issued_at=int(time.time()),
            expires_at=int(time.time()) + 900,
        )
        app.dependency_overrides[current_user] = lambda: claims
        async with app.router.lifespan_context(app):
            yield app


async def record_changes(broker: Broker, log: EventLog) -> None:
    """Bind an exclusive queue to presence.changed.v1 and feed every event into `log`."""
    queue = await broker.channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(EXCHANGE_EVENTS, routing_key="presence.changed.v1")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        body = orjson.loads(message.body)
        await log.add(
            Event(
                body["user_id"],
                body["status"],
                body["last_seen_at"],
                time.monotonic(),
                message.message_id or "",
            )
        )
        await message.ack()

    await queue.consume(on_message)
