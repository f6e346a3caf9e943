"""Serve an ASGI app in-process with uvicorn on a port the OS picks (security tests that start
the services themselves, on ephemeral ports, without a stack)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

START_TIMEOUT_S = 30.0


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[int]:
    """Serve `app` on 127.0.0.1; yield the port; stop it afterwards."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            await asyncio.sleep(0.05)
        port: int = server.servers[0].sockets[0].getsockname()[1]
        yield port
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
