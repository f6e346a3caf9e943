"""Alembic environment: async engine, URL from the config when given, else from settings."""

from __future__ import annotations

import asyncio

from alembic import context
from chat_runtime.db import migration_connect_args
from message_service.settings import MessageSettings
from message_service.store.tables import metadata
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config
target_metadata = metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or MessageSettings().database_url


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


# Replicas starting together migrate one at a time; the others then find the schema at head.
MIGRATION_LOCK_KEY = 0x6D73_6D69_6772  # "msmigr"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
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
