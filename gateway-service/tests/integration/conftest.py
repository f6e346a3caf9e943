"""A real gateway (uvicorn on port 0, in-process, built like `python -m gateway_service`) on a
temporary vhost, verifying real tokens: a JWKS served on another local port, and fake
message-service (`membership.query.v1`) and auth-service (`auth.revocations.query.v1`)
responders on the broker. Tests talk to it with the `websockets` client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import chat_contracts
import jwt
import msgspec
import orjson
import pytest_asyncio
import uvicorn
from chat_contracts import names, types
from chat_runtime.messaging import Broker, Envelope, OutgoingMessage
from chat_runtime.messaging.topology import declare_topology
from chat_runtime.testing import temporary_vhost
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gateway_service.api.ws import GatewayApp
from gateway_service.bootstrap import build
from gateway_service.keepalive import KeepaliveSweeper, keepalive_protocol
from gateway_service.settings import GatewaySettings
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol


class Tokens:
    """Signs access tokens as auth-service does; `jwks_app` serves the key (ASGI)."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = orjson.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "EdDSA"}]})

    def issue(self, user_id: str, *, session_id: str | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": "chat-auth",
            "aud": "chat",
            "sub": user_id,
            "sid": session_id or str(uuid.uuid4()),
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 900,
        }
        return jwt.encode(
            claims, self.key, algorithm="EdDSA", headers={"kid": "k1", "typ": "at+jwt"}
        )

    async def jwks_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.jwks})


@dataclass
class FakeAuthService:
    """Answers `auth.revocations.query.v1` (nothing revoked) while `answering`."""

    answering: bool = True
    revoked: list[types.RevokedSession] = field(default_factory=list)
    unanswered: int = 0

    async def respond(self, envelope: Envelope[Any]) -> types.AuthRevocationsReplyV1:
        if not self.answering:
            self.unanswered += 1
            raise RuntimeError("auth-service is down (test)")  # dropped: the caller times out
        return types.AuthRevocationsReplyV1(sessions=self.revoked)


@dataclass
class Stack:
    amqp_url: str
    vhost: str
    port: int
    app: GatewayApp
    broker: Broker  # the test's own connection (events in, commands out)
    tokens: Tokens
    auth: FakeAuthService
    rooms: dict[str, list[str]]
    settings: GatewaySettings

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    def another_gateway(
        self, *, wait_ready: bool = True, **overrides: Any
    ) -> contextlib.AbstractAsyncContextManager[tuple[GatewayApp, int]]:
        """A second gateway process on the same broker (its own id, queue and bindings);
        `overrides` change its settings."""
        return serve_gateway(
            GatewaySettings(
                **{**self.settings.model_dump(), "gateway_id": str(uuid.uuid4()), **overrides}
            ),
            wait_ready=wait_ready,
        )

    async def publish(self, routing_key: str, type_name: str, body: dict[str, Any]) -> None:
        """An event on `chat.events`, as its producer would publish it (checked by its
        contract on the way: a test sends only what a real producer could)."""
        struct = msgspec.convert(body, chat_contracts.struct_type(type_name))
        result = await self.broker.publish(
            names.EXCHANGE_EVENTS, OutgoingMessage.of(routing_key, struct)
        )
        result.raise_first()

    async def open(
        self,
        user_id: str,
        rooms: list[str],
        *,
        session_id: str | None = None,
        port: int | None = None,
    ) -> tuple[ClientConnection, dict[str, Any]]:
        self.rooms[user_id] = rooms
        url = f"ws://127.0.0.1:{port or self.port}/v1/ws"
        ws = await connect(url, subprotocols=[Subprotocol("chat.v1")])
        await ws.send(
            orjson.dumps(
                {"type": "auth", "token": self.tokens.issue(user_id, session_id=session_id)}
            ).decode()
        )
        ready = await self.recv(ws)
        assert ready["type"] == "ready", ready
        return ws, ready

    @staticmethod
    async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        return frame

    async def until_pong(self, ws: ClientConnection) -> list[dict[str, Any]]:
        """Frames received before the answer to a fresh ping (proves nothing else was queued)."""
        await ws.send('{"type":"ping"}')
        seen = []
        while (frame := await self.recv(ws))["type"] != "pong":
            seen.append(frame)
        return seen


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def gw_stack() -> AsyncIterator[Stack]:
    async with temporary_vhost("gateway-it") as amqp_url:
        test_broker = Broker(amqp_url, service="gateway-it")
        await test_broker.connect()
        await declare_topology(test_broker.channel, 8)
        rooms: dict[str, list[str]] = {}

        async def membership(envelope: Envelope[Any]) -> types.MembershipReplyV1:
            user_id = envelope.body.user_id
            return types.MembershipReplyV1(user_id=user_id, room_ids=rooms.get(user_id, []))

        auth = FakeAuthService()
        await test_broker.serve(names.MESSAGE_QUERY_QUEUE, names.MEMBERSHIP_QUERY_V1, membership)
        await test_broker.serve(
            names.AUTH_QUERY_QUEUE, names.AUTH_REVOCATIONS_QUERY_V1, auth.respond
        )
        tokens = Tokens()
        async with serve_asgi(tokens.jwks_app, interface="asgi3") as jwks_port:
            settings = GatewaySettings(
                amqp_url=amqp_url,
                jwks_url=f"http://127.0.0.1:{jwks_port}/v1/auth/jwks",
                heartbeat_interval_s=0.5,
                allowed_origins=["http://localhost:8080"],
            )
            vhost = amqp_url.rsplit("/", 1)[1]
            async with serve_gateway(settings) as (app, port):
                try:
                    yield Stack(
                        amqp_url, vhost, port, app, test_broker, tokens, auth, rooms, settings
                    )
                finally:
                    await test_broker.close()


@contextlib.asynccontextmanager
async def serve_gateway(
    settings: GatewaySettings, *, wait_ready: bool = True
) -> AsyncIterator[tuple[GatewayApp, int]]:
    """A gateway process's app under uvicorn on a free port, in this event loop, configured
    like `python -m gateway_service` (the process-wide keepalive sweep instead of uvicorn's);
    with `wait_ready`, once its broker side is up (consumers running, revocations loaded)."""
    sweeper = KeepaliveSweeper(
        idle_s=settings.ws_ping_idle_s,
        timeout_s=settings.ws_ping_timeout_s,
        sweep_s=settings.ws_keepalive_sweep_s,
    )
    app = build(settings, keepalive=sweeper)
    app.api.state.keepalive = sweeper  # for tests that count what the protocol did itself
    async with serve_asgi(app, ws=keepalive_protocol(sweeper)) as port:
        if wait_ready:
            await asyncio.wait_for(app.api.state.host.bus_ready.wait(), 30)
        yield app, port


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, **config: Any) -> AsyncIterator[int]:
    """`app` under uvicorn on a free local port, in this event loop; yields the port."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            ws_ping_interval=None,
            ws_ping_timeout=None,
            ws_max_size=65536,
            ws_per_message_deflate=False,
            log_config=None,
            lifespan="on" if isinstance(app, GatewayApp) else "off",
            **config,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
