"""Integration fixtures: auth-service in-process on a temporary database and vhost.

One harness per test module (creating a database and a vhost costs seconds); tests in a module
use distinct usernames and client addresses so their throttle counters never meet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from chat_devtools.auth_harness import AuthHarness, FakeClock, auth_harness


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def auth_it(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AuthHarness]:
    path: Path = tmp_path_factory.mktemp("auth-keys")
    async with auth_harness(path) as h:
        yield h


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def auth_it_clocked(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AuthHarness]:
    path: Path = tmp_path_factory.mktemp("auth-keys")
    async with auth_harness(path, clock=FakeClock()) as h:
        yield h
