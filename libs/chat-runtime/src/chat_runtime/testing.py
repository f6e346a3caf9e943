"""Helpers for tests that need a real database or broker without touching anyone else's data.

Each helper creates a uniquely named resource on the shared instance and removes it afterwards, so
parallel runs (and other engineers' runs) never see each other's rows or queues.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
from pydantic import ValidationError

from chat_runtime.settings import BaseServiceSettings

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


# --- prod secrets (issue #20): one set of checks every service's settings test runs -------------


class _Env(Protocol):
    """What the checks need of pytest's `monkeypatch`."""

    def setenv(self, name: str, value: str) -> None: ...
    def delenv(self, name: str, raising: bool = ...) -> None: ...


class ProdSecrets:
    """Prod must refuse a service's default or empty secrets in one line naming each variable.

    `settings` is the service's settings class, `real` a real-looking value for each of its
    secret variables (`CHAT_*`): with them the settings build in prod."""

    def __init__(self, settings: Callable[[], BaseServiceSettings], real: dict[str, str]) -> None:
        self.settings = settings
        self.real = real
        self.secrets = tuple(real)

    def prod(self, env: _Env, **values: str) -> None:
        for name in (*self.secrets, "CHAT_S3_ACCESS_KEY_ID", "CHAT_FILE_STORAGE"):
            env.delenv(name, raising=False)
        env.setenv("CHAT_ENV", "prod")
        env.setenv("CHAT_JWKS_URL", "https://auth-service:8001/v1/auth/jwks")
        for name, value in values.items():
            env.setenv(name, value)

    def refusal(self) -> str:
        """The one-line reason the settings refuse to build (AssertionError if they build)."""
        try:
            self.settings()
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"])
            assert "\n" not in message
            return message
        raise AssertionError("the settings built; a refusal was expected")

    def check_defaults_refused(self, env: _Env) -> None:
        self.prod(env)
        message = self.refusal()
        assert message.startswith("Value error, refusing to start in prod")
        for name in self.secrets:
            assert name in message

    def weak_values(self, name: str) -> list[str]:
        """Empty, and for URLs: no password, an empty one, the broker's guest account."""
        weak = [""]
        if name.endswith("_URL"):
            scheme, rest = self.real[name].split("://", 1)
            host = rest.split("@", 1)[1]
            weak += [
                f"{scheme}://svc@{host}",
                f"{scheme}://svc:@{host}",
                f"{scheme}://guest:guest@{host}",
            ]
        return weak

    def check_each_weak_value_refused(self, env: _Env, name: str) -> None:
        for value in self.weak_values(name):
            self.prod(env, **{**self.real, name: value})
            message = self.refusal()
            assert name in message
            assert all(other not in message for other in self.secrets if other != name)

    def check_real_values_build(self, env: _Env) -> BaseServiceSettings:
        self.prod(env, **self.real)
        settings = self.settings()
        assert settings.is_prod
        return settings
