"""Private RabbitMQ/PostgreSQL for the runtime's fault tests: they are stopped and killed at will,
so the shared instances on 5672/5432 are never touched."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from chat_devtools.private import PrivatePostgres, PrivateRabbitMQ


@pytest.fixture(scope="session")
def rtf_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    # One node for the module: starting RabbitMQ costs seconds, and no test here stops it.
    instance = PrivateRabbitMQ()
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


@pytest.fixture
def rtf_postgres() -> Iterator[PrivatePostgres]:
    instance = PrivatePostgres()
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll a condition only observable from outside (row counts, queue depths)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


@pytest.fixture
def rtf_wait_for() -> Callable[..., Awaitable[None]]:
    return wait_for


@pytest.fixture(scope="session")
def rtf_starter() -> Iterator[Callable[..., Awaitable[Any]]]:
    """Run a blocking stop/start off the event loop, from one long-lived thread: chat_devtools
    children get SIGTERM when the *thread* that started them ends (PR_SET_PDEATHSIG), and
    asyncio.to_thread's workers end with each test's loop."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="rtf-starter")

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    yield call
    pool.shutdown(wait=True)
