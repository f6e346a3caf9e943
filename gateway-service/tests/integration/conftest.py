"""A real gateway (uvicorn on port 0, in-process) on a temporary vhost, with a fake membership
responder and a fake token verifier; tests talk to it with the `websockets` client."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest_asyncio
import uvicorn
from chat_runtime.messaging import Broker
from chat_runtime.messaging.topology import declare_topology
from chat_runtime.testing import temporary_vhost
from gateway_service.app import create_gateway_app
from gateway_service.keepalive import KeepaliveSweeper, keepalive_protocol
from gateway_service.ports import Claims, Unauthorized
from gateway_service.settings import GatewaySettings
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol


@dataclass(frozen=True)
class ItClaims:
    user_id: str
    session_id: str
    expires_at: float


@dataclass
class ItVerifier:
    tokens: dict[str, ItClaims] = field(default_factory=dict)

    def issue(self, user_id: str, *, session_id: str | None = None) -> str:
        token = f"tok-{uuid.uuid4().hex}"
        self.tokens[token] = ItClaims(user_id, session_id or str(uuid.uuid4()), time.time() + 900)
        return token

    async def verify(self, token: str) -> Claims:
        try:
            return self.tokens[token]
        except KeyError:
            raise Unauthorized("unknown token") from None


@dataclass
class Stack:
    amqp_url: str
    vhost: str
    port: int
    app: Any
    broker: Broker  # the test's own connection (events in, commands out)
    verifier: ItVerifier
    rooms: dict[str, list[str]]
    settings: GatewaySettings

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    def another_gateway(
        self, **overrides: Any
    ) -> contextlib.AbstractAsyncContextManager[tuple[Any, int]]:
        """A second gateway process on the same broker (its own id, queue and bindings);
        `overrides` change its settings."""
        return serve_gateway(
            GatewaySettings(
                **{**self.settings.model_dump(), "gateway_id": str(uuid.uuid4()), **overrides}
            ),
            self.verifier,
        )

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
                {"type": "auth", "token": self.verifier.issue(user_id, session_id=session_id)}
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

        async def membership(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            user_id = body["user_id"]
            return "membership.reply.v1", {"user_id": user_id, "room_ids": rooms.get(user_id, [])}

        await test_broker.serve("message-service.query", "membership.query.v1", membership)
        verifier = ItVerifier()
        settings = GatewaySettings(
            amqp_url=amqp_url,
            heartbeat_interval_s=0.5,
            allowed_origins=["http://localhost:8080"],
        )
        vhost = amqp_url.rsplit("/", 1)[1]
        async with serve_gateway(settings, verifier) as (app, port):
            try:
                yield Stack(amqp_url, vhost, port, app, test_broker, verifier, rooms, settings)
            finally:
                await test_broker.close()


@contextlib.asynccontextmanager
async def serve_gateway(
    settings: GatewaySettings, verifier: ItVerifier
) -> AsyncIterator[tuple[Any, int]]:
    """A gateway process's app under uvicorn on a free port, in this event loop, configured
    like `python -m gateway_service` (the process-wide keepalive sweep instead of uvicorn's)."""
    sweeper = KeepaliveSweeper(
        idle_s=settings.ws_ping_idle_s,
        timeout_s=settings.ws_ping_timeout_s,
        sweep_s=settings.ws_keepalive_sweep_s,
    )
    app = create_gateway_app(settings, verifier=verifier, keepalive=sweeper)
    app.state.keepalive = sweeper  # for tests that count what the protocol did itself
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        ws=keepalive_protocol(sweeper),
        ws_ping_interval=None,
        ws_ping_timeout=None,
        ws_max_size=65536,
        ws_per_message_deflate=False,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield app, server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
