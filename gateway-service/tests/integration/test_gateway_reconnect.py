"""Losing the broker connection: the gateway re-creates queue and bindings, then sends `resync`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from chat_contracts import names
from chat_runtime.testing import close_connections

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def test_resync_after_broker_connection_loss(gw_stack: Any) -> None:
    user, room = str(uuid.uuid4()), str(uuid.uuid4())
    ws, _ = await gw_stack.open(user, [room])
    try:
        assert await close_connections(gw_stack.vhost, gw_stack.settings.gateway_id) >= 1
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
        await gw_stack.publish(
            f"room.{room}.message.created.v1", names.MESSAGE_CREATED_V1, {"message": msg}
        )
        assert await gw_stack.recv(ws) == {"type": "message.new", "message": msg}
        # And the socket still works both ways.
        assert await gw_stack.until_pong(ws) == []
    finally:
        await ws.close()
