"""Losing the broker connection: the gateway re-creates queue and bindings, then sends `resync`."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def rabbitmqctl(*args: str) -> str:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    proc = await asyncio.create_subprocess_exec(
        ctl, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def close_gateway_connections(vhost: str, gateway_id: str) -> int:
    listing = await rabbitmqctl("list_connections", "-q", "-p", vhost, "pid", "client_properties")
    pids = [
        line.split("\t", 1)[0]
        for line in listing.splitlines()
        if line.startswith("<") and gateway_id in line
    ]
    for pid in pids:
        await rabbitmqctl("close_connection", pid, "forced by the reconnect test")
    return len(pids)


async def test_resync_after_broker_connection_loss(gw_stack: Any) -> None:
    user, room = str(uuid.uuid4()), str(uuid.uuid4())
    ws, _ = await gw_stack.open(user, [room])
    try:
        assert await close_gateway_connections(gw_stack.vhost, gw_stack.settings.gateway_id) >= 1
        assert await gw_stack.recv(ws, timeout=30) == {"type": "resync"}
        # Queue and bindings are back: a room event reaches the socket again.
        msg = {
            "id": str(uuid.uuid4()),
            "room_id": room,
            "seq": 1,
            "kind": "text",
            "sender_id": str(uuid.uuid4()),
            "text": "after the outage",
            "client_msg_id": str(uuid.uuid4()),
            "created_at": "2026-11-26T15:04:05.123Z",
        }
        await gw_stack.broker.publish(
            "chat.events", f"room.{room}.message.created.v1", "message.created.v1", {"message": msg}
        )
        assert await gw_stack.recv(ws) == {"type": "message.new", "message": msg}
        # And the socket still works both ways.
        assert await gw_stack.until_pong(ws) == []
    finally:
        await ws.close()
