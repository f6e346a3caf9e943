"""A deactivated account is locked out everywhere (api-v1.1 C): its open socket closes within
1 s (4401), and message-service, presence-service and the gateway refuse its access token,
through the real revocation path (auth.session.revoked.v1, reason `deactivated`, one per
session) on a real broker.

Real pieces only, like test_auth_services_reject.py: auth-service and the gateway served by
uvicorn on ephemeral 127.0.0.1 ports (no standard port, so no E2E lock), message-service and
presence-service in-process on temporary databases, all on one temporary vhost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import auth_service.bootstrap
import gateway_service.bootstrap
import httpx
import message_service.bootstrap
import presence_service.bootstrap
import pytest
import websockets
from auth_service.settings import AuthSettings
from chat_devtools.auth_harness import STRONG_PASSWORD
from chat_runtime.testing import temporary_database, temporary_vhost
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

CLOSE_DEADLINE_S = 1.0  # api-v1.1 C: sockets closed within 1 s
REFUSAL_DEADLINE_S = 5.0


@contextlib.asynccontextmanager
async def in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.host.bus_ready.wait(), START_TIMEOUT_S)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://svc"
        ) as client:
            yield client


async def within(deadline_s: float, check: Callable[[], Awaitable[bool]]) -> float | None:
    """Seconds until `check` holds, or None when it did not within the deadline."""
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if await check():
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    return None


async def test_deactivated_user_is_refused_everywhere(tmp_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        amqp_url = await stack.enter_async_context(temporary_vhost("admindeact"))
        auth_db = await stack.enter_async_context(temporary_database("admindeact_auth"))
        msg_db = await stack.enter_async_context(temporary_database("admindeact_msg"))
        pres_db = await stack.enter_async_context(temporary_database("admindeact_pres"))
        auth_app = auth_service.bootstrap.build(
            AuthSettings(database_url=auth_db, amqp_url=amqp_url, keys_dir=tmp_path / "keys")
        ).app
        auth_port = await stack.enter_async_context(served(auth_app))
        await asyncio.wait_for(auth_app.state.host.bus_ready.wait(), START_TIMEOUT_S)
        jwks = f"http://127.0.0.1:{auth_port}/v1/auth/jwks"
        messages = await stack.enter_async_context(
            in_process(
                message_service.bootstrap.build(
                    MessageSettings(database_url=msg_db, amqp_url=amqp_url, jwks_url=jwks)
                ).app
            )
        )
        presence = await stack.enter_async_context(
            in_process(
                presence_service.bootstrap.build(
                    PresenceSettings(database_url=pres_db, amqp_url=amqp_url, jwks_url=jwks)
                ).app
            )
        )
        gateway = gateway_service.bootstrap.build(GatewaySettings(amqp_url=amqp_url, jwks_url=jwks))
        gw_port = await stack.enter_async_context(served(gateway))
        await asyncio.wait_for(gateway.api.state.host.bus_ready.wait(), START_TIMEOUT_S)

        auth = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{auth_port}")
        )

        async def signed_in(username: str) -> tuple[str, str]:
            r = await auth.post(
                "/v1/auth/register",
                json={"username": username, "display_name": username, "password": STRONG_PASSWORD},
            )
            assert r.status_code == 201, r.text
            user_id = str(r.json()["user"]["id"])
            r = await auth.post(
                "/v1/auth/login", json={"username": username, "password": STRONG_PASSWORD}
            )
            assert r.status_code == 200, r.text
            return user_id, str(r.json()["access_token"])

        _, owner = await signed_in("dq_owner")  # the first account: the owner
        member_id, member = await signed_in("dq_member")
        member_auth = {"Authorization": f"Bearer {member}"}
        assert (await messages.get("/v1/rooms", headers=member_auth)).status_code == 200
        assert (await presence.get("/v1/presence", headers=member_auth)).status_code == 200

        ws = await stack.enter_async_context(
            websockets.connect(
                f"ws://127.0.0.1:{gw_port}/v1/ws",
                subprotocols=[Subprotocol("chat.v1")],
                open_timeout=10,
            )
        )
        await ws.send(json.dumps({"type": "auth", "token": member}))
        ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ready["type"] == "ready", ready

        r = await auth.post(
            f"/v1/admin/users/{member_id}/deactivate",
            headers={"Authorization": f"Bearer {owner}"},
        )
        assert r.status_code == 200, r.text
        deactivated_at = time.monotonic()

        # The open socket closes with 4401 within a second.
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), CLOSE_DEADLINE_S + 4)
        closed_after = time.monotonic() - deactivated_at
        assert ws.close_code == 4401
        assert closed_after <= CLOSE_DEADLINE_S, f"socket closed after {closed_after:.2f}s"

        async def message_service_refuses() -> bool:
            return (await messages.get("/v1/rooms", headers=member_auth)).status_code == 401

        async def presence_refuses() -> bool:
            return (await presence.get("/v1/presence", headers=member_auth)).status_code == 401

        async def gateway_refuses() -> bool:
            async with websockets.connect(
                f"ws://127.0.0.1:{gw_port}/v1/ws",
                subprotocols=[Subprotocol("chat.v1")],
                open_timeout=10,
            ) as again:
                await again.send(json.dumps({"type": "auth", "token": member}))
                try:
                    frame = json.loads(await asyncio.wait_for(again.recv(), 10))
                except websockets.ConnectionClosed:
                    return again.close_code == 4401
                return bool(frame.get("code") == "unauthorized")

        for name, check in (
            ("message-service", message_service_refuses),
            ("presence-service", presence_refuses),
            ("gateway", gateway_refuses),
        ):
            took = await within(REFUSAL_DEADLINE_S, check)
            assert took is not None, f"{name} still accepts a deactivated user's token"
        # auth-service itself: the session is gone, and sign-in gets the generic failure.
        assert (await auth.get("/v1/users/me", headers=member_auth)).status_code == 401
        r = await auth.post(
            "/v1/auth/login", json={"username": "dq_member", "password": STRONG_PASSWORD}
        )
        assert r.status_code == 401
        assert r.json()["code"] == "invalid_credentials"
