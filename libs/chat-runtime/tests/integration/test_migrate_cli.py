"""`python -m chat_runtime.migrate`: migrations only under the advisory lock (two Jobs run one
after the other), and `wait` (the Deployments' init container) returns once the schema is there."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from chat_runtime.db import create_engine
from chat_runtime.migrate import migration_lock_key, schema_state, wait
from chat_runtime.testing import temporary_database

pytestmark = pytest.mark.integration

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

FIRST = """
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table("things", sa.Column("id", sa.Integer, primary_key=True))
"""

# Slow on purpose, and not repeatable: a second run at the same time would fail on the column.
SECOND = """
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.execute("SELECT pg_sleep(1)")
    op.add_column("things", sa.Column("name", sa.Text))
"""


def project(tmp_path: Path) -> str:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "migrations" / "env.py").write_text(ENV_PY)
    (tmp_path / "migrations" / "script.py.mako").write_text("")
    (versions / "0001_things.py").write_text(FIRST)
    (versions / "0002_name.py").write_text(SECOND)
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        textwrap.dedent(
            f"""
            [alembic]
            script_location = {tmp_path / "migrations"}
            """
        )
    )
    return str(ini)


def cli(*args: str, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chat_runtime.migrate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CHAT_DATABASE_URL": url},
    )


def test_the_lock_is_the_service_hosts() -> None:
    # One key for the Jobs and for ServiceHost migrating at start (both call migrate_under_lock).
    assert migration_lock_key("auth-service") == zlib.crc32(b"migrate:auth-service")


async def test_two_jobs_migrate_one_after_the_other_and_wait_sees_the_end(tmp_path: Path) -> None:
    ini = project(tmp_path)
    async with temporary_database("rt_migcli") as url:
        assert not schema_state(ini, set()).ready
        with pytest.raises(TimeoutError, match="not migrated yet"):
            await wait(ini, url, timeout_s=0.3, interval_s=0.1)
        waiter = asyncio.create_task(wait(ini, url, timeout_s=60, interval_s=0.1))
        started = time.monotonic()
        jobs = [cli("upgrade", "--config", ini, "--lock", "things", url=url) for _ in range(2)]
        outs = [await asyncio.to_thread(j.communicate) for j in jobs]
        assert [j.returncode for j in jobs] == [0, 0], outs
        state = await asyncio.wait_for(waiter, 30)
        assert state.ready
        assert state.current == ("0002",)
        assert time.monotonic() - started >= 1.0
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT id, name FROM things"))
        finally:
            await engine.dispose()
        # The CLI's wait answers at once now.
        done = cli("wait", "--config", ini, "--timeout", "5", url=url)
        assert await asyncio.to_thread(done.wait, 60) == 0


async def test_wait_gives_up_with_a_message_and_a_newer_schema_counts_as_ready(
    tmp_path: Path,
) -> None:
    ini = project(tmp_path)
    async with temporary_database("rt_migcli") as url:
        proc = cli("wait", "--config", ini, "--timeout", "0.5", url=url)
        out, _ = await asyncio.to_thread(proc.communicate)
        assert proc.returncode == 1
        assert "schema not ready" in out
        assert "not migrated yet" in out
    assert not schema_state(ini, {"0001"}).ready
    assert "waiting for 0002" in schema_state(ini, {"0001"}).why
    newer = schema_state(ini, {"0003_from_a_newer_release"})
    assert newer.ready
    assert "newer" in newer.why
