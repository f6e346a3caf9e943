"""Fakes for the gateway's ports and an app wired to them (no broker, no JWKS)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gateway_service.app import create_gateway_app
from gateway_service.ports import Claims, EventHandler, Unauthorized, Unavailable
from gateway_service.settings import GatewaySettings


@dataclass(frozen=True)
class FakeClaims:
    user_id: str
    session_id: str
    expires_at: float


@dataclass
class FakeVerifier:
    tokens: dict[str, FakeClaims] = field(default_factory=dict)

    def issue(self, user_id: str, *, session_id: str | None = None, ttl: float = 900) -> str:
        token = f"tok-{uuid.uuid4().hex}"
        self.tokens[token] = FakeClaims(user_id, session_id or str(uuid.uuid4()), time.time() + ttl)
        return token

    async def verify(self, token: str) -> Claims:
        try:
            return self.tokens[token]
        except KeyError:
            raise Unauthorized("unknown token") from None


@dataclass
class FakeBus:
    """Records what the gateway does to the broker; tests feed events via `handlers`."""

    rooms: dict[str, list[str]] = field(default_factory=dict)
    bound: set[str] = field(default_factory=set)
    ops: list[tuple[str, str]] = field(default_factory=list)
    commands: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any], bool]] = field(default_factory=list)
    handlers: dict[str, EventHandler] = field(default_factory=dict)
    redeclared: list[list[str]] = field(default_factory=list)
    fail_commands: bool = False
    membership_down: bool = False
    bind_delay_s: float = 0.0
    reconnect: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def start(self, handlers: Mapping[str, EventHandler]) -> None:
        self.handlers = dict(handlers)

    async def stop(self) -> None:
        pass

    def is_ready(self) -> bool:
        return True

    async def bind(self, key: str) -> None:
        await asyncio.sleep(self.bind_delay_s)
        self.ops.append(("bind", key))
        self.bound.add(key)

    async def unbind(self, key: str) -> None:
        self.ops.append(("unbind", key))
        self.bound.discard(key)

    async def redeclare(self, keys: Sequence[str]) -> None:
        self.redeclared.append(list(keys))

    async def publish_command(
        self, routing_key: str, type_name: str, body: Mapping[str, Any]
    ) -> None:
        if self.fail_commands:
            raise Unavailable("nack")
        self.commands.append((routing_key, type_name, dict(body)))

    async def publish_event(
        self, routing_key: str, type_name: str, body: Mapping[str, Any], *, transient: bool = False
    ) -> None:
        self.events.append((routing_key, type_name, dict(body), transient))

    async def publish_heartbeat(self, body: Mapping[str, Any]) -> None:
        self.events.append(
            ("presence.gateway.heartbeat.v1", "presence.gateway.heartbeat.v1", dict(body), False)
        )

    async def membership(self, user_id: str, timeout_s: float) -> list[str]:
        if self.membership_down:
            raise Unavailable("timeout")
        return list(self.rooms.get(user_id, []))

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        self.reconnect.append(callback)


@dataclass
class Harness:
    client: TestClient
    app: Any
    bus: FakeBus
    verifier: FakeVerifier

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway

    def event(self, type_name: str, body: dict[str, Any]) -> None:
        """Deliver a broker event to the gateway, inside the app's event loop."""
        self.client.portal.call(self.bus.handlers[type_name], body)  # type: ignore[union-attr]

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return self.client.portal.call(fn, *args)  # type: ignore[union-attr]

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        async def wrapper() -> Any:
            return fn(*args)

        return self.client.portal.call(wrapper)  # type: ignore[union-attr]


@pytest.fixture
def gw_harness() -> Iterator[Harness]:
    settings = GatewaySettings(
        allowed_origins=["http://localhost:8080"],
        auth_timeout_s=0.3,
        heartbeat_interval_s=3600,
        sweep_interval_s=3600,
    )
    bus, verifier = FakeBus(), FakeVerifier()
    app = create_gateway_app(settings, bus=bus, verifier=verifier)
    with TestClient(app) as client:
        yield Harness(client, app, bus, verifier)
