"""One private stack for the fault tier: a private RabbitMQ and PostgreSQL (killed, stopped and
restarted at will; the shared 5672/5432 are never touched) and the real services on ports in
28500-28999: auth, two gateways, two message-service replicas, presence.

Starting all of it costs tens of seconds on two cores, so it is shared by the tier; every test
gets it back whole (`fault_stack` heals what a previous test killed or stopped) and works with
its own users and rooms.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
from chat_devtools.config import StackConfig, default_services, find_repo_root
from chat_devtools.private import PrivatePostgres, PrivateRabbitMQ
from chat_devtools.stack import Stack

# The helpers beside this file (chatclient, faultkit) are plain modules, not an installed
# package; --import-mode=importlib does not put this directory on sys.path by itself.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from faultkit import SEND_SHARDS, SLOW_SQL, UNDO_SQL, FaultStack, free_ports_in_range


@pytest.fixture(scope="session")
def fault_stack_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    base = tmp_path_factory.mktemp("fault")
    # Their own temp dirs: pytest's are private to this user, PostgreSQL runs as `postgres`.
    rabbitmq = PrivateRabbitMQ()
    postgres = PrivatePostgres()
    stack: Stack | None = None
    handle: FaultStack | None = None
    try:
        rabbitmq.start()
        postgres.start()
        auth, gw1, gw2, msg1, msg2, presence, files = free_ports_in_range(7)
        config = StackConfig(
            root=find_repo_root(Path(__file__).parent),
            services=default_services(
                auth=(auth,),
                gateway=(gw1, gw2),
                message=(msg1, msg2),
                presence=(presence,),
                file=(files,),
            ),
            amqp_url=rabbitmq.url,
            postgres_url=postgres.url,
            edge_port=None,
            log_dir=base / "log",
            run_dir=base / "run",
            env={
                "CHAT_SEND_SHARDS": str(SEND_SHARDS),
                # Every test registers its own users from 127.0.0.1.
                "CHAT_AUTH_REGISTER_ADDRESS_LIMIT": "10000",
                "CHAT_AUTH_LOGIN_ADDRESS_LIMIT": "10000",
                # The drain test holds 50 sockets of each user on one gateway; api-v1.1 F's
                # per-user cap (20) is tested in tests/e2e/test_limits_e2e.py.
                "CHAT_MAX_SOCKETS_PER_USER": "100",
                "CHAT_LOG_LEVEL": "INFO",
                "CHAT_FILE_DIR": str(base / "files"),
            },
            ready_timeout_s=120,
            stop_timeout_s=10,
        )
        logging.getLogger("fault").info("fault stack logs: %s", config.logs)
        stack = Stack(config)
        stack.prepare()
        stack.start()
        handle = FaultStack(stack, rabbitmq, postgres)
        yield handle
    finally:
        if stack is not None:
            stack.stop()
        rabbitmq.close()
        postgres.close()
        if handle is not None:
            # Last: children started from its thread get SIGTERM when it ends (all gone by now).
            handle.starter.shutdown(wait=True)


@pytest.fixture
def fault_stack(fault_stack_session: FaultStack) -> Iterator[FaultStack]:
    fault_stack_session.heal()
    yield fault_stack_session
    fault_stack_session.heal()


@pytest_asyncio.fixture
async def fault_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
        yield client


# A trigger that makes inserts of texts starting with 'SLOW ' sleep (faultkit.SLOW_SQL).
@pytest_asyncio.fixture
async def slow_db(fault_stack: FaultStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fault_stack.messages_dsn)
    try:
        await conn.execute(SLOW_SQL)
        yield conn
    finally:
        await conn.execute(UNDO_SQL)
        await conn.close()
