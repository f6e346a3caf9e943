"""Alembic environment: async engine, URL from the config when given, else from settings."""

from __future__ import annotations

import asyncio

from alembic import context
from chat_runtime.db import migration_connect_args
from presence_service.settings import PresenceSettings
from presence_service.store import metadata
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config
target_metadata = metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or PresenceSettings().database_url


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(database_url(), connect_args=migration_connect_args(config))
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
