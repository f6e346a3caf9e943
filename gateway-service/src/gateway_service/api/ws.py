"""`/v1/ws`: the handshake rules of api-v1 §6, then hand the socket to a Session.

A plain ASGI endpoint rather than a FastAPI route: FastAPI's middleware stack (problems, body
limit, telemetry, correlation id) would keep a frame per layer alive for each socket's whole life,
and idle sockets must cost close to nothing (QA-006). `GatewayApp` (below) routes the path here.

Refusals happen before accepting, which the server turns into an HTTP 403 on the upgrade request:
a disallowed `Origin`, and a client that does not offer the `chat.v1` subprotocol. Each leaves a
`socket_refused` security line (issue #20): this path bypasses the HTTP middleware that logs
every other 403.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from chat_runtime.http.client import client_address
from chat_runtime.logging import bind_correlation_id, security_event
from fastapi import FastAPI
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from gateway_service.connection import Session
from gateway_service.hub import Gateway
from gateway_service.keepalive import FRAME_WRITER, PING_HOOK

WS_PATH = "/v1/ws"
SUBPROTOCOL = "chat.v1"


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """No Origin (a bot, a test) is fine: the token arrives in the first frame, not a cookie."""
    if origin is None:
        return True
    wanted = origin.rstrip("/").lower()
    return any(wanted == a.rstrip("/").lower() for a in allowed)


def _no_direct_write(frame: bytes) -> bool:
    return False


def _no_ping_answers(answerer: Callable[[], bool] | None) -> None:
    return None


class AsgiSocket:
    """The `Socket` port over raw ASGI receive/send (what Starlette's WebSocket does, minus
    the state machine we do not need), plus the server's direct frame write and ping answers
    when it offers them (`keepalive.FRAME_WRITER`, `keepalive.PING_HOOK`; other servers and the
    test client do not)."""

    __slots__ = ("_receive", "_send", "answer_pings", "write_frame")

    def __init__(
        self,
        receive: Receive,
        send: Send,
        write_frame: Callable[[bytes], bool] | None = None,
        answer_pings: Callable[[Callable[[], bool] | None], None] | None = None,
    ) -> None:
        self._receive = receive
        self._send = send
        self.write_frame = write_frame or _no_direct_write
        self.answer_pings = answer_pings or _no_ping_answers

    async def receive(self) -> Mapping[str, Any]:
        return await self._receive()

    async def send_text(self, data: str) -> None:
        await self._send({"type": "websocket.send", "text": data})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self._send({"type": "websocket.close", "code": code, "reason": reason or ""})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _address(scope: Scope, gateway: Gateway) -> str:
    return client_address(HTTPConnection(scope), gateway.settings.trusted_proxies)


def _refused(scope: Scope, gateway: Gateway, reason: str, **fields: Any) -> None:
    security_event(
        "socket_refused", reason=reason, stage="upgrade", address=_address(scope, gateway), **fields
    )


async def serve_websocket(gateway: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    origin = _header(scope, b"origin")
    if not origin_allowed(origin, gateway.settings.allowed_origins):
        _refused(scope, gateway, "origin_not_allowed", origin=(origin or "")[:200])
        await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
        return
    if SUBPROTOCOL not in scope.get("subprotocols", ()):
        _refused(scope, gateway, "subprotocol_missing")
        await send({"type": "websocket.close", "code": 1002})  # before accept: HTTP 403
        return
    await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
    extensions = scope.get("extensions", {})
    socket = AsgiSocket(receive, send, extensions.get(FRAME_WRITER), extensions.get(PING_HOOK))
    session = Session(gateway, socket, address=_address(scope, gateway))
    # One correlation id per socket: its log lines and the commands it publishes share it.
    bind_correlation_id(session.connection_id)
    structlog.contextvars.bind_contextvars(correlation_id=session.connection_id)
    await session.run()


class GatewayApp:
    """The ASGI entry point: `/v1/ws` goes straight to the session, the rest to the host's
    FastAPI app (health, readiness, metrics, lifespan)."""

    def __init__(self, api: FastAPI) -> None:
        self.api = api

    @property
    def gateway(self) -> Gateway:
        """This process's gateway (made by the host's `on_start`)."""
        gateway: Gateway = self.api.state.host.state.gateway
        return gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope.get("path") == WS_PATH:
            await serve_websocket(self.gateway, scope, receive, send)
            return
        await self.api(scope, receive, send)
