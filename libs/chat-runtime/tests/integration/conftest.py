import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from chat_contracts.names import (
    AUTH_QUERY_QUEUE,
    MESSAGE_EVENTS_QUEUE,
    MESSAGE_QUERY_QUEUE,
    dead_queue,
    read_queue,
    send_queue,
)
from chat_runtime.logging import configure_logging, json_formatter
from chat_runtime.messaging import Broker
from chat_runtime.messaging.topology import declare_topology
from chat_runtime.testing import temporary_vhost

TEST_SHARDS = 2
TEST_DELIVERY_LIMIT = 2


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rt_amqp_url() -> AsyncIterator[str]:
    # One vhost and topology per run: creating quorum queues costs seconds each time.
    async with temporary_vhost("rt") as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rt_shared_broker(rt_amqp_url: str) -> AsyncIterator[Broker]:
    broker = Broker(rt_amqp_url, service="runtime-test", reconnect_interval=0.5)
    await broker.connect()
    await declare_topology(broker.channel, TEST_SHARDS, delivery_limit=TEST_DELIVERY_LIMIT)
    try:
        yield broker
    finally:
        await broker.close()


@pytest_asyncio.fixture(loop_scope="session")
async def rt_broker(rt_shared_broker: Broker) -> AsyncIterator[Broker]:
    """The module's broker with every test queue emptied first."""
    channel = await rt_shared_broker.connection.channel()
    for shard in range(TEST_SHARDS):
        for name in (read_queue(shard), send_queue(shard)):
            for queue in (name, dead_queue(name)):
                q = await channel.declare_queue(queue, passive=True)
                await q.purge()
    for queue in (MESSAGE_QUERY_QUEUE, AUTH_QUERY_QUEUE, MESSAGE_EVENTS_QUEUE):
        q = await channel.declare_queue(queue, passive=True)
        await q.purge()
    await channel.close()
    yield rt_shared_broker


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []
        self.setFormatter(json_formatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def rt_logs() -> Any:
    configure_logging("runtime-test", "9.9.9", "INFO")
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 10.0
) -> None:
    """Poll a condition that is observable only from outside (queue depth) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def rt_eventually() -> Any:
    return eventually
