"""Helpers for tests that need a real database or broker without touching anyone else's data.

Each helper creates a uniquely named resource on the shared instance and removes it afterwards, so
parallel runs (and other engineers' runs) never see each other's rows or queues.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@asynccontextmanager
async def temporary_database(
    prefix: str = "test", admin_dsn: str = DEFAULT_ADMIN_DSN
) -> AsyncIterator[str]:
    """Create an empty database and yield its SQLAlchemy asyncpg URL; drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(admin_dsn))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = _with_database(admin_dsn, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(admin_dsn))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _rabbitmqctl(*args: str) -> str:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    proc = await asyncio.create_subprocess_exec(
        ctl, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {err.decode() or out.decode()}")
    return out.decode()


async def close_connections(vhost: str, name_part: str) -> int:
    """Force-close the broker connections of `vhost` whose client properties (connection name)
    contain `name_part`, as a network cut would; returns how many were closed."""
    listing = await _rabbitmqctl("list_connections", "-q", "-p", vhost, "pid", "client_properties")
    pids = [
        line.split("\t", 1)[0]
        for line in listing.splitlines()
        if line.startswith("<") and name_part in line
    ]
    for pid in pids:
        await _rabbitmqctl("close_connection", pid, "forced by a test")
    return len(pids)


@asynccontextmanager
async def temporary_vhost(
    prefix: str = "test", amqp_url: str = DEFAULT_AMQP_URL
) -> AsyncIterator[str]:
    """Create a RabbitMQ virtual host (guest has full rights) and yield an AMQP URL for it."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    await _rabbitmqctl("add_vhost", name)
    try:
        await _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        parts = urlsplit(amqp_url)
        yield urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), "", ""))
    finally:
        await _rabbitmqctl("delete_vhost", name)
