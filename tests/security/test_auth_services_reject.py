"""Every other service refuses a token signed by a key that is not in auth-service's JWKS, and
the token of a revoked session (api-v1 §3; QA-001).

Real pieces only: auth-service is served by uvicorn on an ephemeral 127.0.0.1 port (the other
services fetch its JWKS over HTTP, the one allowed service-to-service call); message-service and
presence-service run in-process on their own temporary databases; the gateway is served by
uvicorn too so a real WebSocket client can talk to it. All share one temporary vhost, so the
revocation travels as `auth.session.revoked.v1` through the broker. Each service is built by its
own composition root (`<service>.bootstrap.build`) and used once its bus is ready (revocations
loaded: until then a verifier refuses every token as unavailable).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import auth_service.bootstrap
import gateway_service.bootstrap
import httpx
import jwt
import message_service.bootstrap
import presence_service.bootstrap
import pytest
import pytest_asyncio
import websockets
from auth_service.keys import KeyRing
from auth_service.settings import AuthSettings
from chat_devtools.auth_harness import STRONG_PASSWORD
from chat_runtime.testing import temporary_database, temporary_vhost
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from gateway_service.settings import GatewaySettings
from message_service.settings import MessageSettings
from presence_service.settings import PresenceSettings
from websockets.typing import Subprotocol

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.served import START_TIMEOUT_S, served  # noqa: E402

pytestmark = [pytest.mark.security, pytest.mark.asyncio(loop_scope="module")]

REVOCATION_DEADLINE_S = 5.0


@dataclass
class Stack:
    auth_url: str
    amqp_url: str
    keyring: KeyRing
    exits: contextlib.AsyncExitStack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def svc_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with contextlib.AsyncExitStack() as exits:
        amqp_url = await exits.enter_async_context(temporary_vhost("authsvc"))
        db_url = await exits.enter_async_context(temporary_database("authsvc"))
        settings = AuthSettings(
            database_url=db_url,
            amqp_url=amqp_url,
            keys_dir=tmp_path_factory.mktemp("keys") / "keys",
        )
        app = auth_service.bootstrap.build(settings).app
        port = await exits.enter_async_context(served(app))
        await asyncio.wait_for(app.state.host.bus_ready.wait(), START_TIMEOUT_S)
        yield Stack(f"http://127.0.0.1:{port}", amqp_url, app.state.keyring, exits)


async def sign_in(stack: Stack, username: str) -> str:
    async with httpx.AsyncClient(base_url=stack.auth_url) as c:
        r = await c.post(
            "/v1/auth/register",
            json={"username": username, "display_name": username, "password": STRONG_PASSWORD},
        )
        assert r.status_code == 201, r.text
        r = await c.post("/v1/auth/login", json={"username": username, "password": STRONG_PASSWORD})
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token


async def sign_out(stack: Stack, token: str) -> None:
    async with httpx.AsyncClient(base_url=stack.auth_url) as c:
        r = await c.post(
            "/v1/auth/logout",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert r.status_code == 204


def foreign_tokens(stack: Stack, good: str) -> dict[str, str]:
    """Well-formed tokens with valid claims, signed by a key auth-service never published."""
    claims = jwt.decode(good, options={"verify_signature": False})
    rogue = Ed25519PrivateKey.generate()
    real_kid = stack.keyring.signing_key.kid
    return {
        "foreign key under the real kid": jwt.encode(
            claims, rogue, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": real_kid}
        ),
        "foreign key under its own kid": jwt.encode(
            claims, rogue, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": uuid.uuid4().hex}
        ),
    }


async def eventually_refused(check: Callable[[], Awaitable[bool]]) -> bool:
    deadline = time.monotonic() + REVOCATION_DEADLINE_S
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


@contextlib.asynccontextmanager
async def in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    lifespan = app.router.lifespan_context(app)
    await asyncio.wait_for(lifespan.__aenter__(), START_TIMEOUT_S)
    try:
        await asyncio.wait_for(app.state.host.bus_ready.wait(), START_TIMEOUT_S)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://svc"
        ) as client:
            yield client
    finally:
        await lifespan.__aexit__(None, None, None)


async def check_http_service(stack: Stack, app: FastAPI, path: str, username: str) -> None:
    async with in_process(app) as client:
        good = await sign_in(stack, username)

        async def status(token: str) -> int:
            r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            return r.status_code

        assert await status(good) == 200
        for name, token in foreign_tokens(stack, good).items():
            assert await status(token) == 401, name
        await sign_out(stack, good)

        async def refused() -> bool:
            return await status(good) == 401

        assert await eventually_refused(refused), "revoked session still accepted"


async def test_message_service_rejects(svc_stack: Stack) -> None:
    async with temporary_database("authsvc_msg") as db_url:
        settings = MessageSettings(
            database_url=db_url,
            amqp_url=svc_stack.amqp_url,
            jwks_url=f"{svc_stack.auth_url}/v1/auth/jwks",
        )
        app = message_service.bootstrap.build(settings).app
        await check_http_service(svc_stack, app, "/v1/rooms", "svc_msg_user")


async def test_presence_service_rejects(svc_stack: Stack) -> None:
    async with temporary_database("authsvc_pres") as db_url:
        settings = PresenceSettings(
            database_url=db_url,
            amqp_url=svc_stack.amqp_url,
            jwks_url=f"{svc_stack.auth_url}/v1/auth/jwks",
        )
        app = presence_service.bootstrap.build(settings).app
        await check_http_service(svc_stack, app, "/v1/presence", "svc_pres_user")


async def test_gateway_rejects(svc_stack: Stack, tmp_path: Path) -> None:
    settings = GatewaySettings(
        amqp_url=svc_stack.amqp_url, jwks_url=f"{svc_stack.auth_url}/v1/auth/jwks"
    )
    gateway = gateway_service.bootstrap.build(settings)
    server = served(gateway)
    port = await server.__aenter__()
    try:
        await asyncio.wait_for(gateway.api.state.host.bus_ready.wait(), START_TIMEOUT_S)
        good = await sign_in(svc_stack, "svc_gw_user")

        async def outcome(token: str) -> tuple[str | None, int | None]:
            """(error code of the first frame, close code) after the auth frame."""
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/v1/ws",
                subprotocols=[Subprotocol("chat.v1")],
                open_timeout=10,
            ) as ws:
                await ws.send(json.dumps({"type": "auth", "token": token}))
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                except websockets.ConnectionClosed as closed:
                    return None, closed.rcvd.code if closed.rcvd else None
                if frame.get("type") != "error":
                    return frame.get("type"), None
                with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
                    await asyncio.wait_for(ws.recv(), 5)
                return frame.get("code"), ws.close_code

        # The genuine token gets past authentication (ready, or `unavailable` when no
        # message-service answers the membership query): the refusals below mean something.
        assert await outcome(good) != ("unauthorized", 4401)
        for name, token in foreign_tokens(svc_stack, good).items():
            code, close = await outcome(token)
            assert (code, close) == ("unauthorized", 4401), name
        await sign_out(svc_stack, good)

        async def refused() -> bool:
            return await outcome(good) == ("unauthorized", 4401)

        assert await eventually_refused(refused), "revoked session still accepted"
    finally:
        await server.__aexit__(None, None, None)
