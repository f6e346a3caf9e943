"""The API serves while RabbitMQ is unreachable, and what it committed meanwhile (events in the
outbox) is published once the broker is back. The broker is put out of reach by a TCP proxy
in front of it that drops every connection until the test lets them through."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import httpx
import pytest
import sqlalchemy as sa
from auth_service.bootstrap import build
from auth_service.settings import AuthSettings
from auth_service.store import outbox
from chat_contracts import names
from chat_devtools.auth_harness import STRONG_PASSWORD, stateless_client
from chat_runtime.db import create_engine
from chat_runtime.messaging.topology import declare_exchanges
from chat_runtime.testing import temporary_database, temporary_vhost

pytestmark = [pytest.mark.integration]


class BrokerSwitch:
    """A TCP proxy to RabbitMQ: while `up` is false it closes each connection at once (the
    broker looks down); afterwards it forwards bytes both ways."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.up = False
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[BrokerSwitch]:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            for writer in self._writers:
                writer.close()
            await server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.update((writer, up_writer))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def url(self, amqp_url: str) -> str:
        parts = urlsplit(amqp_url)
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def unpublished(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def test_api_serves_with_the_broker_down_and_publishes_once_it_is_up(
    tmp_path: Path,
) -> None:
    async with (
        temporary_database("authdown") as db_url,
        temporary_vhost("authdown") as amqp_url,
        BrokerSwitch(_address(amqp_url)).running() as switch,
    ):
        settings = AuthSettings(
            database_url=db_url, amqp_url=switch.url(amqp_url), keys_dir=tmp_path / "keys"
        )
        app = build(settings).app
        async with (
            app.router.lifespan_context(app),
            stateless_client(httpx.ASGITransport(app=app)) as client,
        ):
            registered = await client.post(
                "/v1/auth/register",
                json={
                    "username": "offline",
                    "display_name": "Offline",
                    "password": STRONG_PASSWORD,
                },
            )
            assert registered.status_code == 201, registered.text
            login = await client.post(
                "/v1/auth/login", json={"username": "offline", "password": STRONG_PASSWORD}
            )
            assert login.status_code == 200, login.text
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] is True
            assert ready.json()["checks"]["broker"] is False
            # registered.v1 and updated.v1 (api-v1.1 C) wait in the outbox.
            assert await unpublished(db_url) == 2

            # A listener bound before the broker comes back, straight to RabbitMQ.
            connection = await aio_pika.connect(amqp_url)
            async with connection:
                channel = await connection.channel()
                await declare_exchanges(channel)
                queue = await channel.declare_queue(exclusive=True)
                await queue.bind(names.EXCHANGE_EVENTS, names.AUTH_USER_REGISTERED_V1)

                switch.up = True
                await asyncio.wait_for(app.state.host.bus_ready.wait(), 30)
                message = await _next_message(queue)
            assert message.type == names.AUTH_USER_REGISTERED_V1
            assert json.loads(message.body) == {"user": registered.json()["user"]}
            assert (await client.get("/readyz")).status_code == 200
            assert await unpublished(db_url) == 0


def _address(amqp_url: str) -> tuple[str, int]:
    parts = urlsplit(amqp_url)
    return parts.hostname or "127.0.0.1", parts.port or 5672


async def _next_message(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    async with asyncio.timeout(10):
        while True:
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                return message
            await asyncio.sleep(0.05)
