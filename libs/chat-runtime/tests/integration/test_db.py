import textwrap
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from chat_runtime.db import (
    create_engine,
    database_check,
    ensure_database,
    is_infrastructure_error,
    run_migrations_async,
)
from chat_runtime.testing import temporary_database

pytestmark = pytest.mark.integration

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def test_ensure_database_creates_once() -> None:
    name = f"rt_ensure_{uuid.uuid4().hex[:10]}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await ensure_database(url)
        await ensure_database(url)  # idempotent
        conn = await asyncpg.connect(ADMIN)
        try:
            assert await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name) == 1
        finally:
            await conn.close()
    finally:
        conn = await asyncpg.connect(ADMIN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


ENV_PY = """
import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine


def do_run(connection):
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


async def main():
    engine = create_async_engine(context.config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as conn:
        await conn.run_sync(do_run)
        await conn.commit()
    await engine.dispose()


asyncio.run(main())
"""

VERSION = """
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table("things", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("things")
"""


async def test_run_migrations_from_async_code_with_an_asyncio_env(tmp_path: Path) -> None:
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    (tmp_path / "migrations" / "env.py").write_text(ENV_PY)
    (tmp_path / "migrations" / "script.py.mako").write_text("")
    (tmp_path / "migrations" / "versions" / "0001_things.py").write_text(VERSION)
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        textwrap.dedent(
            f"""
            [alembic]
            script_location = {tmp_path / "migrations"}
            """
        )
    )
    async with temporary_database("rt_migr") as url:
        await run_migrations_async(str(ini), url)
        await run_migrations_async(str(ini), url)  # at head: nothing to do
        engine = create_engine(url)
        try:
            assert await database_check(engine)()
            async with engine.connect() as conn:
                version = (
                    await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                ).scalar_one()
                await conn.execute(sa.text("SELECT id FROM things"))
            assert version == "0001"
        finally:
            await engine.dispose()


async def test_a_database_that_is_not_there_is_an_infrastructure_error() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none", pool_pre_ping=False)
    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the class is what is asserted
            await database_check(engine)()
        assert is_infrastructure_error(caught.value)
    finally:
        await engine.dispose()
