"""A service's own database role (ADR 0015): the owner of its database and of everything in it.

Applied by an administrator (a superuser URL): `chat_devtools.accounts` for make run and the e2e
stack, `python -m chat_runtime.provision database-owner` for compose. The role logs in and owns
its database, nothing more (no superuser, CREATEDB, CREATEROLE); objects that exist already are
handed over so migrations keep working; `CONNECT` is revoked from `PUBLIC`, so another service's
role cannot even connect.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from ssl import SSLContext

import asyncpg

from chat_runtime.db import ensure_database, server_dsn

__all__ = ["OwnerRoleError", "ensure_owner_role"]


class OwnerRoleError(ValueError):
    """A name that is not a plain PostgreSQL identifier."""


@dataclass(frozen=True)
class _Kind:
    """One catalog of objects a role can own: how to find them and how to alter their owner."""

    catalog: str
    namespace: str  # the column naming its schema (`oid` for pg_namespace itself)
    owner: str
    name: str  # SQL: the object's name as ALTER wants it
    alter: str  # SQL: the ALTER keyword(s)
    only: str = "TRUE"  # SQL: which of them
    bound: str = "'e'"  # dependency types of objects that follow another (extension, table)


_KINDS = (
    _Kind(
        "pg_namespace",
        "oid",
        "nspowner",
        "quote_ident(x.nspname)",
        "'SCHEMA'",
        # PostgreSQL 15+: `public` belongs to pg_database_owner, i.e. already to the owner.
        "x.nspowner <> 'pg_database_owner'::regrole",
    ),
    _Kind(
        "pg_class",
        "relnamespace",
        "relowner",
        "x.oid::regclass::text",
        "CASE x.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' "
        "WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END",
        "x.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')",
        # Indexes and a table's own sequences follow their table.
        "'e', 'a', 'i'",
    ),
    _Kind(
        "pg_type",
        "typnamespace",
        "typowner",
        "x.oid::regtype::text",
        "'TYPE'",
        "x.typtype IN ('e', 'd')",
    ),
    _Kind(
        "pg_proc",
        "pronamespace",
        "proowner",
        "x.oid::regprocedure::text",
        "CASE x.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END",
    ),
    _Kind(
        "pg_ts_config",
        "cfgnamespace",
        "cfgowner",
        "x.oid::regconfig::text",
        "'TEXT SEARCH CONFIGURATION'",
    ),
    _Kind(
        "pg_ts_dict",
        "dictnamespace",
        "dictowner",
        "x.oid::regdictionary::text",
        "'TEXT SEARCH DICTIONARY'",
    ),
)

# The ALTER ... OWNER TO statements that give the role ($1) every object of the database's own
# schemas that is not part of an extension and not its own yet, so migrations and the service
# can change and use them. Built from the constants above only; the role is a parameter.
_HAND_OVER = "\nUNION ALL\n".join(
    f"""SELECT format('ALTER %s %s OWNER TO %I', {k.alter}, {k.name}, $1::text) AS statement
FROM {k.catalog} x JOIN pg_namespace n ON n.oid = x.{k.namespace}
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND x.{k.owner} <> $1::text::regrole AND {k.only}
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{k.catalog}'::regclass
                  AND d.objid = x.oid AND d.deptype IN ({k.bound}))"""  # noqa: S608
    for k in _KINDS
)

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise OwnerRoleError(f"not a plain PostgreSQL identifier: {name!r}")
    return name


def _literal_sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def ensure_owner_role(
    server_url: str, database: str, role: str, password: str, *, ssl: SSLContext | None = None
) -> None:
    """Create `database` if missing; create or update `role` (login, no other power, this
    password); make it the owner of `database` and of every object in it; let no other role
    connect. Idempotent. `server_url` is a superuser's URL on the server (any database)."""
    role, database = _ident(role), _ident(database)
    await ensure_database(server_dsn(server_url, database), ssl=ssl)
    conn = await asyncpg.connect(server_dsn(server_url, "postgres"), ssl=ssl, timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateObjectError):  # created concurrently
                await conn.execute(f"CREATE ROLE {role} LOGIN")
        # No superuser, no CREATEDB/CREATEROLE: the owner of its own database, nothing more.
        await conn.execute(
            f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            f"NOBYPASSRLS PASSWORD {_literal_sql(password)}"
        )
        await conn.execute(f"ALTER DATABASE {database} OWNER TO {role}")
        # Only the owner (and superusers) may connect: another service's role cannot.
        await conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
    finally:
        await conn.close()
    conn = await asyncpg.connect(server_dsn(server_url, database), ssl=ssl, timeout=10)
    try:
        for row in await conn.fetch(_HAND_OVER, role):
            await conn.execute(row["statement"])
    finally:
        await conn.close()
