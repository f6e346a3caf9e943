"""Real broker and database (temporary vhost / database); presence replicas run in-process."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from chat_devtools.presence_sim import EventLog, answer_revocation_queries, record_changes
from chat_runtime.db import run_migrations_async
from chat_runtime.messaging import Broker
from chat_runtime.messaging.topology import declare_exchanges
from chat_runtime.testing import temporary_database, temporary_vhost
from fastapi import FastAPI
from presence_service.settings import ALEMBIC_INI

# presence_replicas beside this file is a plain module; --import-mode=importlib does not put
# this directory on sys.path by itself.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from presence_replicas import PresenceEnv


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
        # Replicas verify tokens: they are ready once auth-service (here, us) has answered.
        await answer_revocation_queries(broker)
        log = EventLog()
        await record_changes(broker, log)
        try:
            yield PresenceEnv(database_url, amqp_url, broker, log)
        finally:
            await broker.close()
