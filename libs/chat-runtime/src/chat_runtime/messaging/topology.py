"""The one place where exchanges and shared queues are declared (docs/architecture.md, Queues).

Every name comes from `chat_contracts.names`; this module only declares."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue
from chat_contracts.names import (
    AUTH_BLOCK_CHANGED_V1,
    AUTH_QUERY_QUEUE,
    AUTH_USER_REGISTERED_V1,
    AUTH_USER_UPDATED_V1,
    EXCHANGE_COMMANDS,
    EXCHANGE_DLX,
    EXCHANGE_EVENTS,
    FILE_EVENTS_QUEUE,
    FILE_UPLOADED_V1,
    MESSAGE_EVENTS_QUEUE,
    MESSAGE_QUERY_QUEUE,
    dead_queue,
    read_queue,
    read_routing_key,
    send_queue,
    send_routing_key,
)

DELIVERY_LIMIT = 5


def quorum_queue_arguments(
    name: str, *, single_active: bool = False, delivery_limit: int = DELIVERY_LIMIT
) -> dict[str, Any]:
    """Every argument explicit so 3.10 and 4.x behave alike (4.x changed some defaults)."""
    return {
        "x-queue-type": "quorum",
        "x-single-active-consumer": single_active,
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": EXCHANGE_DLX,
        "x-dead-letter-routing-key": name,
        # at-least-once dead-lettering needs reject-publish overflow to be honoured.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def command_queue_arguments(
    name: str, *, single_active: bool, delivery_limit: int = DELIVERY_LIMIT
) -> dict[str, Any]:
    return quorum_queue_arguments(name, single_active=single_active, delivery_limit=delivery_limit)


def dead_queue_arguments() -> dict[str, Any]:
    # No dead-letter settings here: a dead queue is the end of the line, read by operators.
    return {"x-queue-type": "quorum"}


async def declare_exchanges(channel: AbstractChannel) -> None:
    await channel.declare_exchange(EXCHANGE_COMMANDS, aio_pika.ExchangeType.DIRECT, durable=True)
    await channel.declare_exchange(EXCHANGE_EVENTS, aio_pika.ExchangeType.TOPIC, durable=True)
    await channel.declare_exchange(EXCHANGE_DLX, aio_pika.ExchangeType.DIRECT, durable=True)


async def declare_dead_partner(channel: AbstractChannel, name: str) -> AbstractQueue:
    dead = await channel.declare_queue(
        dead_queue(name), durable=True, arguments=dead_queue_arguments()
    )
    await dead.bind(EXCHANGE_DLX, routing_key=name)
    return dead


async def declare_quorum_queue(
    channel: AbstractChannel,
    name: str,
    *,
    bindings: Iterable[tuple[str, str]] = (),
    single_active: bool = False,
    delivery_limit: int = DELIVERY_LIMIT,
) -> AbstractQueue:
    """A durable quorum queue, its `<name>.dead` partner on `chat.dlx`, and its bindings."""
    await declare_dead_partner(channel, name)
    queue = await channel.declare_queue(
        name,
        durable=True,
        arguments=quorum_queue_arguments(
            name, single_active=single_active, delivery_limit=delivery_limit
        ),
    )
    for exchange, routing_key in bindings:
        await queue.bind(exchange, routing_key=routing_key)
    return queue


async def declare_query_queue(channel: AbstractChannel, name: str) -> AbstractQueue:
    """A classic durable RPC request queue; requests that fail their schema go to `<name>.dead`."""
    await declare_dead_partner(channel, name)
    return await channel.declare_queue(
        name,
        durable=True,
        arguments={
            "x-queue-type": "classic",
            "x-dead-letter-exchange": EXCHANGE_DLX,
            "x-dead-letter-routing-key": name,
        },
    )


async def declare_topology(
    channel: AbstractChannel, shards: int, *, delivery_limit: int = DELIVERY_LIMIT
) -> None:
    """Declare every exchange and every shared queue. Idempotent (same arguments each time)."""
    await declare_exchanges(channel)
    for shard in range(shards):
        await declare_quorum_queue(
            channel,
            send_queue(shard),
            bindings=[(EXCHANGE_COMMANDS, send_routing_key(shard))],
            single_active=True,
            delivery_limit=delivery_limit,
        )
        await declare_quorum_queue(
            channel,
            read_queue(shard),
            bindings=[(EXCHANGE_COMMANDS, read_routing_key(shard))],
            single_active=True,
            delivery_limit=delivery_limit,
        )
    await declare_quorum_queue(
        channel,
        MESSAGE_EVENTS_QUEUE,
        bindings=[
            (EXCHANGE_EVENTS, AUTH_USER_REGISTERED_V1),
            (EXCHANGE_EVENTS, AUTH_USER_UPDATED_V1),
            (EXCHANGE_EVENTS, AUTH_BLOCK_CHANGED_V1),
            (EXCHANGE_EVENTS, FILE_UPLOADED_V1),
        ],
        delivery_limit=delivery_limit,
    )
    await declare_quorum_queue(
        channel,
        FILE_EVENTS_QUEUE,
        bindings=[(EXCHANGE_EVENTS, AUTH_USER_UPDATED_V1)],
        delivery_limit=delivery_limit,
    )
    await declare_query_queue(channel, MESSAGE_QUERY_QUEUE)
    await declare_query_queue(channel, AUTH_QUERY_QUEUE)


async def declare_exclusive_queue(
    channel: AbstractChannel,
    name: str,
    *,
    bindings: Sequence[tuple[str, str]] = (),
) -> AbstractQueue:
    """A per-process classic exclusive auto-delete queue (gateway, presence replica).

    Declared on a robust channel it is re-created with its bindings after a reconnect."""
    queue = await channel.declare_queue(
        name,
        durable=False,
        exclusive=True,
        auto_delete=True,
        arguments={"x-queue-type": "classic"},
    )
    for exchange, routing_key in bindings:
        await queue.bind(exchange, routing_key=routing_key)
    return queue
