"""Fakes for the gateway's ports and the real app (`bootstrap.build`) wired to them: no broker,
no JWKS. `gw_harness` signs in with a fake verifier; `gw_tokens` keeps the host's own revocation
set and verifies real tokens against an in-process JWKS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import chat_contracts
import httpx
import jwt
import msgspec
import orjson
import pytest
from chat_runtime.messaging import Envelope, OutgoingMessage
from chat_runtime.tokens import InvalidToken, RevocationSet, TokenVerifier
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from gateway_service.api.ws import GatewayApp
from gateway_service.bootstrap import build, queue_handlers
from gateway_service.hub import Gateway
from gateway_service.ports import Claims, Unavailable
from gateway_service.settings import GatewaySettings
from starlette.testclient import WebSocketTestSession

JWKS_URL = "http://auth.test/v1/auth/jwks"


@dataclass(frozen=True)
class FakeClaims:
    user_id: str
    session_id: str
    expires_at: float


@dataclass
class FakeVerifier:
    tokens: dict[str, FakeClaims] = field(default_factory=dict)
    unavailable: str | None = None  # an InvalidToken reason that says "not now"

    def issue(self, user_id: str, *, session_id: str | None = None, ttl: float = 900) -> str:
        token = f"tok-{uuid.uuid4().hex}"
        self.tokens[token] = FakeClaims(user_id, session_id or str(uuid.uuid4()), time.time() + ttl)
        return token

    async def verify(self, token: str) -> Claims:
        if self.unavailable is not None:
            raise InvalidToken(self.unavailable)
        try:
            return self.tokens[token]
        except KeyError:
            raise InvalidToken("invalid") from None


class RealTokens:
    """Signs access tokens as auth-service does and serves their key as its JWKS."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()

    def issue(self, user_id: str, *, session_id: str | None = None, ttl: int = 900) -> str:
        now = int(time.time())
        claims = {
            "iss": "chat-auth",
            "aud": "chat",
            "sub": user_id,
            "sid": session_id or str(uuid.uuid4()),
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + ttl,
        }
        headers = {"kid": "k1", "typ": "at+jwt"}
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers=headers)

    def verifier(self, revocations: RevocationSet) -> TokenVerifier:
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.key.public_key()))
        jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "EdDSA"}]}
        transport = httpx.MockTransport(lambda _: httpx.Response(200, json=jwks))
        return TokenVerifier(
            JWKS_URL, revocations=revocations, http=httpx.AsyncClient(transport=transport)
        )


def _record(body: msgspec.Struct) -> tuple[str, dict[str, Any]]:
    return chat_contracts.contract_of(body), msgspec.to_builtins(body)


@dataclass
class FakeBus:
    """Records what the gateway does to the broker (bodies as the dicts they encode to)."""

    rooms: dict[str, list[str]] = field(default_factory=dict)
    bound: set[str] = field(default_factory=set)
    ops: list[tuple[str, str]] = field(default_factory=list)
    commands: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any], bool]] = field(default_factory=list)
    redeclared: list[list[str]] = field(default_factory=list)
    fail_commands: bool = False
    membership_down: bool = False
    bind_delay_s: float = 0.0

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
        self,
        routing_key: str,
        body: msgspec.Struct,
        *,
        extra_fields: Mapping[str, msgspec.Raw] | None = None,
    ) -> None:
        if self.fail_commands:
            raise Unavailable("nack")
        # Recorded as it goes on the wire: the real message, extra fields merged in.
        message = OutgoingMessage.of(routing_key, body, extra_fields=extra_fields)
        self.commands.append((routing_key, message.type_name, orjson.loads(message.body)))

    async def publish_event(
        self, routing_key: str, body: msgspec.Struct, *, transient: bool = False
    ) -> None:
        self.events.append((routing_key, *_record(body), transient))

    async def membership(self, user_id: str, timeout_s: float) -> list[str]:
        if self.membership_down:
            raise Unavailable("timeout")
        return list(self.rooms.get(user_id, []))


@dataclass
class Harness:
    client: TestClient
    app: GatewayApp
    bus: FakeBus
    verifier: Any  # FakeVerifier or RealTokens: `issue(user_id, session_id=...)`

    @property
    def gateway(self) -> Gateway:
        return self.app.gateway

    def event(self, type_name: str, body: dict[str, Any]) -> None:
        """Deliver a broker event as the gateway queue's consumer does: decoded by its
        contract, then its handler, inside the app's event loop."""
        raw = orjson.dumps(body)
        envelope = Envelope(
            type_name=type_name,
            body=chat_contracts.decode(type_name, raw),
            message_id=None,
            correlation_id=None,
            headers={},
            routing_key=type_name,
            raw=raw,
        )
        handler = queue_handlers(self.app.api.state.host)[type_name]
        self.client.portal.call(handler, envelope)  # type: ignore[union-attr]

    @contextlib.contextmanager
    def connected(
        self, user_id: str, rooms: list[str] | None = None, *, session_id: str | None = None
    ) -> Iterator[tuple[WebSocketTestSession, dict[str, Any]]]:
        """A signed-in socket of `user_id` (member of `rooms`) and its `ready` frame."""
        if rooms is not None:
            self.bus.rooms[user_id] = rooms
        token = self.verifier.issue(user_id, session_id=session_id)
        with self.client.websocket_connect(
            "/v1/ws", subprotocols=["chat.v1"], headers={"origin": "http://localhost:8080"}
        ) as ws:
            ws.send_json({"type": "auth", "token": token})
            ready = ws.receive_json()
            assert ready["type"] == "ready", ready
            yield ws, ready

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return self.client.portal.call(fn, *args)  # type: ignore[union-attr]

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        async def wrapper() -> Any:
            return fn(*args)

        return self.client.portal.call(wrapper)  # type: ignore[union-attr]


def _settings(features: str | None = None) -> GatewaySettings:
    # `features` is CHAT_FEATURES: None (unset) is everything this release implements.
    return GatewaySettings(
        allowed_origins=["http://localhost:8080"],
        auth_timeout_s=0.3,
        heartbeat_interval_s=3600,
        sweep_interval_s=3600,
        features=features,
    )


def _harness(features: str | None) -> Iterator[Harness]:
    bus, verifier = FakeBus(), FakeVerifier()
    app = build(_settings(features), bus=bus, verifier=verifier)
    with TestClient(app) as client:
        yield Harness(client, app, bus, verifier)


@pytest.fixture
def gw_harness() -> Iterator[Harness]:
    """Every feature this release implements on (CHAT_FEATURES unset)."""
    yield from _harness(None)


@pytest.fixture
def gw_features_off() -> Iterator[Harness]:
    """`CHAT_FEATURES=` (none), as during an upgrade."""
    yield from _harness("")


@pytest.fixture
def gw_tokens() -> Iterator[Harness]:
    """The host's own revocation set and revocation handler (no fake verifier), with the
    verifier pointed at an in-process JWKS."""
    bus, tokens = FakeBus(), RealTokens()
    app = build(_settings(), bus=bus)
    with TestClient(app) as client:
        revocations = app.api.state.host.revocations
        assert revocations is not None
        verifier = tokens.verifier(revocations)
        app.gateway.verifier = verifier
        yield Harness(client, app, bus, tokens)
        client.portal.call(verifier.aclose)  # type: ignore[union-attr]
