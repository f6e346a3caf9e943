"""Database helpers: async engine and sessions, database creation, migrations, error triage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from chat_runtime.infrastructure import is_infrastructure_error, register_infrastructure_check

__all__ = [
    "create_engine",
    "database_check",
    "ensure_database",
    "is_database_connection_error",
    "is_infrastructure_error",
    "run_migrations",
    "run_migrations_async",
    "session_factory",
]


def create_engine(url: str, *, ssl: SSLContext | None = None, **kwargs: Any) -> AsyncEngine:
    # No pre-ping: it costs a round trip per checkout. After a database restart the first use
    # of a stale connection fails as a connection-level error (`is_infrastructure_error`):
    # SQLAlchemy then discards every older pooled connection, consumers hold and retry, and HTTP
    # answers 503 + Retry-After. pool_recycle replaces connections before server/proxy idle
    # timeouts can cut them.
    # `ssl` (CHAT_DATABASE_CA_FILE, chat_runtime.tls): every connection is TLS, verify-full.
    options: dict[str, Any] = {"pool_recycle": 1800, "pool_size": 10, "max_overflow": 10}
    options.update(kwargs)
    if ssl is not None:
        options["connect_args"] = {**options.get("connect_args", {}), "ssl": ssl}
    return create_async_engine(url, **options)


def database_check(engine: AsyncEngine) -> Callable[[], Awaitable[bool]]:
    """A readiness check: `app.state.readiness.add("database", database_check(engine))`."""

    async def check() -> bool:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return True

    return check


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def server_dsn(url: str, database: str = "postgres") -> str:
    """An asyncpg DSN for `database` on the server (and with the credentials) of `url`."""
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


async def ensure_database(url: str, *, ssl: SSLContext | None = None) -> None:
    """Create the database named in `url` when it does not exist (connects to `postgres`)."""
    name = make_url(url).database or "postgres"
    conn = await asyncpg.connect(server_dsn(url), ssl=ssl)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = '"' + name.replace('"', '""') + '"'
            # Another replica may create it at the same moment.
            with contextlib.suppress(asyncpg.exceptions.DuplicateDatabaseError):
                await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


def run_migrations(
    alembic_ini_path: str, database_url: str, *, ssl: SSLContext | None = None
) -> None:
    """Upgrade to head. Sync (alembic is); from async code call `run_migrations_async`.

    env.py reads the URL with `config.get_main_option("sqlalchemy.url")` (also available as
    `config.attributes["database_url"]`) and its engine's connect_args with
    `migration_connect_args(config)` (the TLS context)."""
    from alembic import command
    from alembic.config import Config

    config = Config(alembic_ini_path)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["database_url"] = database_url
    if ssl is not None:
        config.attributes["database_ssl"] = ssl
    command.upgrade(config, "head")


async def run_migrations_async(
    alembic_ini_path: str, database_url: str, *, ssl: SSLContext | None = None
) -> None:
    # A worker thread has no running loop, so an env.py that calls asyncio.run() works there.
    await asyncio.to_thread(run_migrations, alembic_ini_path, database_url, ssl=ssl)


def migration_connect_args(config: Any) -> dict[str, Any]:
    """An alembic env.py's engine connect_args: the TLS context `run_migrations` was given,
    else the one of CHAT_DATABASE_CA_FILE (alembic run by hand), else none."""
    from chat_runtime.tls import database_ssl_from_env

    context = config.attributes.get("database_ssl") or database_ssl_from_env()
    return {"ssl": context} if context is not None else {}


# connection, shutdown, resources; 25P03: the server ended a transaction left idle too long
# (idle_in_transaction_session_timeout), which closes the connection.
_CONNECTION_SQLSTATE_PREFIXES = ("08", "57P", "53", "25P03")


def is_database_connection_error(exc: BaseException) -> bool:
    """One exception (not its causes) that means the database is down or restarting."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True  # pool checkout timeout: the database is not answering
    if isinstance(
        exc,
        asyncpg.exceptions.PostgresConnectionError
        | asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.AdminShutdownError
        | asyncpg.exceptions.CrashShutdownError
        | asyncpg.exceptions.TooManyConnectionsError,
    ):
        return True
    if isinstance(exc, asyncpg.exceptions.InterfaceError) and "closed" in str(exc):
        return True  # "connection is closed"; other InterfaceErrors are programming bugs
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_CONNECTION_SQLSTATE_PREFIXES)


# The consumer runner and the HTTP error handler ask `is_infrastructure_error`, which lives
# without SQLAlchemy; importing this module teaches it the database's connection errors.
register_infrastructure_check(is_database_connection_error)
