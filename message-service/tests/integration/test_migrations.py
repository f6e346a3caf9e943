"""The Alembic migrations create exactly what store/tables.py describes."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from chat_runtime.db import create_engine, run_migrations_async
from chat_runtime.testing import temporary_database
from message_service.settings import MessageSettings
from message_service.store.tables import metadata

pytestmark = pytest.mark.integration


async def test_migrations_match_the_tables_in_code() -> None:
    async with temporary_database("msg_migr") as url:
        ini = MessageSettings().alembic_ini
        await run_migrations_async(ini, url)
        await run_migrations_async(ini, url)  # a restart finds the schema at head: no-op
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:

                def diff(sync_conn: Any) -> list[Any]:
                    context = MigrationContext.configure(sync_conn)
                    return list(compare_metadata(context, metadata))

                differences = await conn.run_sync(diff)
        finally:
            await engine.dispose()
    assert differences == []
