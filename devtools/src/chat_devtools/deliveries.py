"""Deliveries as the runtime's consumer makes them, for handler tests without a broker.

`send_delivery` is a `message.send.v1` command whose body is decoded from the raw bytes it
keeps (`Envelope.raw`), exactly as the consumer builds it, so handlers that read unknown fields
or headers see what they would see on the wire.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

import msgspec
from chat_contracts import decode, names, types
from chat_runtime.messaging import Envelope

__all__ = ["send_delivery"]


def send_delivery(
    shard: int = 3,
    *,
    headers: Mapping[str, Any] | None = None,
    delivery_count: int = 0,
    extra: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Envelope[types.MessageSendV1]:
    """A `message.send.v1` delivery from send shard `shard`: random ids and text "hi", unless
    `fields` say otherwise; `extra` adds fields no contract names (a newer gateway's)."""
    body = {
        "client_msg_id": str(uuid.uuid4()),
        "room_id": str(uuid.uuid4()),
        "sender_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "text": "hi",
        "gateway_id": str(uuid.uuid4()),
        "connection_id": str(uuid.uuid4()),
        **fields,
        **(extra or {}),
    }
    raw = msgspec.json.encode(body)
    return Envelope(
        type_name=names.MESSAGE_SEND_V1,
        body=cast(types.MessageSendV1, decode(names.MESSAGE_SEND_V1, raw)),
        message_id=str(uuid.uuid4()),
        correlation_id=None,
        headers=dict(headers or {}),
        routing_key=names.send_routing_key(shard),
        raw=raw,
        delivery_count=delivery_count,
        queue=names.send_queue(shard),
    )
