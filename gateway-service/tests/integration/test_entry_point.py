"""The gateway as `python -m gateway_service` runs it (QA-006: "no per-message-deflate by
default"). The other integration tests build the server themselves (conftest's `serve_asgi`
turns compression off on its own), so they would not see the real entry point change; this one
starts the real process on a private port (block 285xx) against the module's temporary vhost
and its fake responders, and offers permessage-deflate the way a browser does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from chat_devtools.processes import ManagedProcess
from gateway_service.bootstrap import build
from gateway_service.keepalive import KeepaliveSweeper, keepalive_protocol
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

PORT_BLOCK = range(28520, 28540)  # this session's private block (285xx); no lock needed
READY_TIMEOUT_S = 30.0
DEFLATE = "permessage-deflate"


def free_port_in_block() -> int:
    for port in PORT_BLOCK:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {PORT_BLOCK}")


@contextlib.contextmanager
def gateway_process(stack: Any, port: int, log_path: Path) -> Iterator[ManagedProcess]:
    """`python -m gateway_service` on `port`, on the stack's vhost; stopped (by its PID)."""
    proc = ManagedProcess(
        name="gateway-entry-point",
        argv=[sys.executable, "-m", "gateway_service"],
        log_path=log_path,
        env={
            "CHAT_HOST": "127.0.0.1",
            "CHAT_PORT": str(port),
            "CHAT_AMQP_URL": stack.amqp_url,
            "CHAT_JWKS_URL": stack.settings.jwks_url,
            "CHAT_GATEWAY_ID": str(uuid.uuid4()),
        },
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(15.0)


async def wait_ready(proc: ManagedProcess, port: int) -> None:
    """Poll the process's /readyz (its broker side up, revocations loaded) until 200."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            assert proc.running, f"the gateway exited ({proc.returncode}):\n{proc.log_tail()}"
            with contextlib.suppress(httpx.HTTPError):
                r = await http.get(f"http://127.0.0.1:{port}/readyz")
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            await asyncio.sleep(0.2)
    raise AssertionError(f"not ready after {READY_TIMEOUT_S}s ({last}):\n{proc.log_tail()}")


@contextlib.asynccontextmanager
async def deflate_offering_socket(stack: Any, port: int) -> AsyncIterator[ClientConnection]:
    """A signed-in socket whose handshake offered permessage-deflate (as browsers do)."""
    user = str(uuid.uuid4())
    stack.rooms[user] = []
    async with connect(
        f"ws://127.0.0.1:{port}/v1/ws",
        subprotocols=[Subprotocol("chat.v1")],
        compression="deflate",
    ) as ws:
        assert ws.request is not None
        assert DEFLATE in ws.request.headers.get("Sec-WebSocket-Extensions", "")
        assert ws.subprotocol == "chat.v1"  # accepted: extensions were really negotiated
        await ws.send(orjson.dumps({"type": "auth", "token": stack.tokens.issue(user)}).decode())
        ready = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ready["type"] == "ready", ready
        yield ws


def negotiated(ws: ClientConnection) -> tuple[str | None, list[str]]:
    assert ws.response is not None
    header = ws.response.headers.get("Sec-WebSocket-Extensions")
    return header, [ext.name for ext in ws.protocol.extensions]


async def test_the_real_entry_point_negotiates_no_compression(
    gw_stack: Any, tmp_path: Path
) -> None:
    port = free_port_in_block()
    with gateway_process(gw_stack, port, tmp_path / "gateway.log") as proc:
        await wait_ready(proc, port)
        async with deflate_offering_socket(gw_stack, port) as ws:
            assert negotiated(ws) == (None, [])
            # ...and the socket works uncompressed.
            await ws.send('{"type":"ping"}')
            pong = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert pong == {"type": "pong"}


async def test_the_same_offer_is_taken_by_a_server_with_compression_on(gw_stack: Any) -> None:
    """The control: this client's offer is one a server accepts, so the check above would see
    compression if the entry point switched it on (uvicorn's default is on)."""
    settings = gw_stack.settings.model_copy(update={"gateway_id": str(uuid.uuid4())})
    sweeper = KeepaliveSweeper(idle_s=0)
    app = build(settings, keepalive=sweeper)
    assert uvicorn.Config(app).ws_per_message_deflate, "uvicorn's default changed"
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=free_port_in_block(),
            ws=keepalive_protocol(sweeper),
            ws_per_message_deflate=True,
            log_config=None,
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # uvicorn offers no event for it (the conftest polls too)
            assert not task.done(), task
            await asyncio.sleep(0.02)
        await asyncio.wait_for(app.api.state.host.bus_ready.wait(), 30)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with deflate_offering_socket(gw_stack, port) as ws:
            header, names = negotiated(ws)
            assert header is not None
            assert header.startswith(DEFLATE)
            assert names == [DEFLATE]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
