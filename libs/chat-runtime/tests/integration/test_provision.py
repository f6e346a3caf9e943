"""`python -m chat_runtime.provision database-owner` on the real server (compose, ADR 0015)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from chat_runtime import provision

pytestmark = pytest.mark.integration

SUPERUSER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def _sql(database: str, *statements: str) -> list[object]:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    try:
        return [await conn.fetchval(s) for s in statements]
    finally:
        await conn.close()


def test_the_job_gives_an_existing_database_to_its_own_role_and_closes_it_to_others() -> None:
    name = f"rt_prov_{uuid.uuid4().hex[:10]}"
    role, other = f"{name}_owner", f"{name}_other"
    # A database from before the change: made by the superuser, with a table of its own.
    asyncio.run(_sql("postgres", f"CREATE DATABASE {name}", f"CREATE ROLE {other} LOGIN"))
    try:
        asyncio.run(_sql(name, "CREATE TABLE earlier (id int)", "CREATE SEQUENCE earlier_seq"))
        args = ["database-owner", "--database", name, "--password-env", "OWNER_PASSWORD"]
        env = {"CHAT_DATABASE_URL": SUPERUSER_URL, "OWNER_PASSWORD": "pw-real-1"}
        assert provision.main(args, environ=env) == 0
        assert provision.main(args, environ={**env, "OWNER_PASSWORD": "pw-real-2"}) == 0
        owners = asyncio.run(
            _sql(
                name,
                f"SELECT datdba::regrole::text FROM pg_database WHERE datname = '{name}'",
                "SELECT relowner::regrole::text FROM pg_class WHERE relname = 'earlier'",
                "SELECT relowner::regrole::text FROM pg_class WHERE relname = 'earlier_seq'",
                f"SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles "
                f"WHERE rolname = '{role}'",
                f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'",
            )
        )
        assert owners == [role, role, role, False, True]

        async def connect_as(user: str) -> None:
            conn = await asyncpg.connect(f"postgresql://{user}@127.0.0.1:5432/{name}")
            await conn.close()

        asyncio.run(connect_as(role))
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            asyncio.run(connect_as(other))  # CONNECT is no longer PUBLIC's
    finally:
        asyncio.run(
            _sql(
                "postgres",
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                f"DROP ROLE IF EXISTS {role}",
                f"DROP ROLE IF EXISTS {other}",
            )
        )


def test_a_missing_database_is_created_with_its_owner() -> None:
    name = f"rt_prov_{uuid.uuid4().hex[:10]}"
    env = {"CHAT_DATABASE_URL": SUPERUSER_URL, "PW": "pw-real"}
    try:
        args = ["database-owner", "--database", name, "--password-env", "PW"]
        assert provision.main(args, environ=env) == 0
        owner = asyncio.run(
            _sql(name, f"SELECT datdba::regrole::text FROM pg_database WHERE datname = '{name}'")
        )
        assert owner == [f"{name}_owner"]
    finally:
        asyncio.run(
            _sql(
                "postgres",
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                f"DROP ROLE IF EXISTS {name}_owner",
            )
        )
