import textwrap
import uuid
from pathlib import Path

import asyncpg
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


async def test_connections_cut_by_a_restart_fail_once_as_infrastructure_then_recover() -> None:
    # No pre-ping: a pooled connection the server dropped (as in a PostgreSQL restart) fails on
    # first use with a connection-level error (consumers retry it), and the pool replaces the
    # rest, so the next transaction works.
    async with temporary_database("rt_stale") as url:
        engine = create_engine(url, pool_size=3)
        name = engine.url.database
        try:
            async with engine.connect() as a, engine.connect() as b:
                await a.execute(sa.text("SELECT 1"))
                await b.execute(sa.text("SELECT 1"))
            admin = await asyncpg.connect(ADMIN)
            try:
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
            finally:
                await admin.close()
            assert killed == 2
            with pytest.raises(Exception) as caught:  # noqa: PT011 - the class is what is asserted
                async with engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
            assert is_infrastructure_error(caught.value)
            for _ in range(3):  # every later checkout gets a fresh connection
                async with engine.connect() as conn:
                    assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
        finally:
            await engine.dispose()
