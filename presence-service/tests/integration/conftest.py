"""Real broker and database (temporary vhost / database); presence replicas run in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import pytest_asyncio
from chat_runtime.db import run_migrations_async
from chat_runtime.messaging import Broker
from chat_runtime.messaging.topology import declare_exchanges
from chat_runtime.testing import temporary_database, temporary_vhost
from fastapi import FastAPI
from presence_service.app import ALEMBIC_INI
from presence_service.testing import EventLog, PresenceEnv, record_changes


def http_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://presence")


@pytest.fixture
def presence_http() -> Callable[[FastAPI], httpx.AsyncClient]:
    return http_client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def presence_env() -> AsyncIterator[PresenceEnv]:
    """One database and vhost per test module (creating them costs seconds); tests use their
    own user ids, so they do not see each other's users."""
    async with (
        temporary_database("presence") as database_url,
        temporary_vhost("presence") as amqp_url,
    ):
        await run_migrations_async(str(ALEMBIC_INI), database_url)
        broker = Broker(amqp_url, service="presence-test-gateway")
        await broker.connect()
        await declare_exchanges(broker.channel)
        log = EventLog()
        await record_changes(broker, log)
        try:
            yield PresenceEnv(database_url, amqp_url, broker, log)
        finally:
            await broker.close()
