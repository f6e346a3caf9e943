"""The signal consumer's table and queue, and what binding the queue means for the replica."""

from __future__ import annotations

import json
from typing import Any

import chat_contracts
import pytest
from chat_contracts import names, types
from chat_runtime.messaging import Envelope
from presence_service.bus import signals
from presence_service.service import PresenceService
from presence_service.store import FakePresenceStore

pytestmark = pytest.mark.unit

G = "9b2b1f0e-0000-4000-8000-000000000001"
C = "9b2b1f0e-0000-4000-8000-0000000000c1"
U = "9b2b1f0e-0000-4000-8000-0000000000A1"  # upper case on the wire: one spelling inside
AT = "2026-01-01T00:00:00.000Z"


class Clock:
    now = 1_000.0

    def __call__(self) -> float:
        return self.now


def envelope(type_name: str, body: dict[str, Any]) -> Envelope[Any]:
    # Decoded as the consumer runner does: the handlers get the contract's struct.
    decoded = chat_contracts.decode(type_name, json.dumps(body))
    return Envelope(type_name, decoded, None, None, {}, type_name)


def service(clock: Clock | None = None) -> PresenceService:
    return PresenceService(FakePresenceStore(), silence_s=30, recovery_s=12, clock=clock or Clock())


async def test_each_signal_type_reaches_the_state() -> None:
    replica = service()
    table = signals.handlers(replica, None)
    opened = {"gateway_id": G, "connection_id": C, "user_id": U, "status": "away", "at": AT}
    await table[names.PRESENCE_CONNECTION_OPENED_V1](
        envelope(names.PRESENCE_CONNECTION_OPENED_V1, opened)
    )
    assert replica.state.status_of(U.lower()) == "away"
    await table[names.PRESENCE_CONNECTION_UPDATED_V1](
        envelope(names.PRESENCE_CONNECTION_UPDATED_V1, {**opened, "status": "online"})
    )
    assert replica.state.status_of(U.lower()) == "online"
    closed = {"gateway_id": G, "connection_id": C, "user_id": U, "at": AT}
    await table[names.PRESENCE_CONNECTION_CLOSED_V1](
        envelope(names.PRESENCE_CONNECTION_CLOSED_V1, closed)
    )
    assert replica.state.status_of(U.lower()) == "offline"
    beat = {
        "gateway_id": G,
        "sent_at": AT,
        "interval_s": 10,
        "connections": [{"connection_id": C, "user_id": U, "status": "online"}],
    }
    await table[names.PRESENCE_GATEWAY_HEARTBEAT_V1](
        envelope(names.PRESENCE_GATEWAY_HEARTBEAT_V1, beat)
    )
    assert replica.state.presence_of(U.lower(), 1_000.0).connections == 1
    assert names.AUTH_SESSION_REVOKED_V1 not in table


async def test_revoked_sessions_share_the_signal_queue_when_the_host_follows_revocations() -> None:
    async def revoked(envelope: Envelope[types.AuthSessionRevokedV1]) -> None:
        return None

    table = signals.handlers(service(), revoked)
    assert table[names.AUTH_SESSION_REVOKED_V1] is revoked


class FakeQueue:
    def __init__(self) -> None:
        self.bindings: list[tuple[str, str]] = []

    async def bind(self, exchange: str, routing_key: str) -> None:
        self.bindings.append((exchange, routing_key))


class FakeChannel:
    def __init__(self) -> None:
        self.declared: list[tuple[str, dict[str, Any]]] = []
        self.queue = FakeQueue()

    async def declare_queue(self, name: str, **options: Any) -> FakeQueue:
        self.declared.append((name, options))
        return self.queue


async def test_the_queue_is_exclusive_and_bound_to_every_handled_type() -> None:
    channel = FakeChannel()
    table = signals.handlers(service(), None)
    queue = names.presence_signals_queue("r1")
    await signals.declare_queue(channel, queue, table)  # type: ignore[arg-type]
    [(name, options)] = channel.declared
    assert name == queue
    assert options["exclusive"]
    assert options["auto_delete"]
    assert channel.queue.bindings == [(names.EXCHANGE_EVENTS, t) for t in table]


def test_binding_starts_recovery_once_and_means_we_hear_again() -> None:
    clock = Clock()
    replica = service(clock)
    assert replica.recovery.active(clock.now + 3600)  # not started: held for as long as needed
    replica.signals_bound()
    assert replica.signals_flowing.is_set()
    assert replica.recovery.until == clock.now + 12
    # A failed start of the bus dropped the link; the next attempt binds the queue again.
    replica.broker_lost()
    clock.now += 5
    replica.signals_bound()
    assert replica.listening
    assert replica.recovery.until == 1_000.0 + 12  # the recovery round is not restarted
