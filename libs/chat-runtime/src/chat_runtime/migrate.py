"""Schema migrations outside the service process: the migration Jobs, and the wait for them.

    python -m chat_runtime.migrate upgrade --config /app/auth-service/alembic.ini \
        --lock auth-service
    python -m chat_runtime.migrate wait --config /app/auth-service/alembic.ini [--timeout 900]

The database URL is `CHAT_DATABASE_URL` (or `--database-url`).

- `upgrade` migrates to head while holding the PostgreSQL advisory lock of `--lock` (the service
  name): the same lock the service host takes when it migrates at start (`ServiceHost`), so a Job
  that is re-created during a rollout, two Jobs, or a Job and a service that still migrates at
  start run one after the other, never side by side.
- `wait` returns once the database holds the schema this image's migrations end at (its head, or
  a revision this image does not know: a newer release migrated it, and expand/contract keeps
  that schema readable by this code). Deployments run it as an init container, so a pod of a new
  release starts only after its migration Job finished, whichever order they were applied in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from ssl import SSLContext

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chat_runtime.db import create_engine, run_migrations_async
from chat_runtime.logging import configure_logging, get_logger
from chat_runtime.tls import database_ssl_from_env

log = get_logger("chat_runtime.migrate")

WAIT_INTERVAL_S = 2.0
DEFAULT_WAIT_TIMEOUT_S = 900.0


def migration_lock_key(service: str) -> int:
    """The advisory lock key of a service's migrations (the service host uses the same one)."""
    return zlib.crc32(f"migrate:{service}".encode())


async def migrate_under_lock(
    engine: AsyncEngine,
    alembic_ini: str,
    database_url: str,
    service: str,
    *,
    ssl: SSLContext | None = None,
) -> None:
    """Migrate to head holding the service's migration lock: replicas, Jobs and a service that
    migrates at start (`ServiceHost`) run one after the other, never side by side."""
    key = migration_lock_key(service)
    async with engine.connect() as conn:
        started = time.monotonic()
        await conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        log.info("migration_lock_taken", service=service, waited_s=_since(started))
        try:
            await run_migrations_async(alembic_ini, database_url, ssl=ssl)
        finally:
            await conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


async def upgrade(alembic_ini: str, database_url: str, service: str) -> None:
    """Migrate to head under the service's migration lock (the migration Job); TLS with
    CHAT_DATABASE_CA_FILE."""
    tls = database_ssl_from_env()
    engine = create_engine(database_url, ssl=tls, pool_size=1, max_overflow=0)
    try:
        await migrate_under_lock(engine, alembic_ini, database_url, service, ssl=tls)
        log.info("migrated", service=service, heads=sorted(script_heads(alembic_ini)))
    finally:
        await engine.dispose()


def script_heads(alembic_ini: str) -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(Config(alembic_ini)).get_heads())


@dataclass(frozen=True)
class SchemaState:
    ready: bool
    current: tuple[str, ...]
    why: str


def schema_state(alembic_ini: str, current: set[str]) -> SchemaState:
    """Whether a database at `current` (its alembic_version rows) has this image's schema."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(Config(alembic_ini))
    heads = set(script.get_heads())
    cur = tuple(sorted(current))
    if not current:
        return SchemaState(False, cur, "not migrated yet")
    reached: set[str] = set()
    for rev in current:
        try:
            reached |= {r.revision for r in script.walk_revisions(base="base", head=rev)}
        except CommandError:
            # Unknown here: written by a newer release's migrations (expand/contract keeps old
            # code working on it).
            return SchemaState(True, cur, f"ahead of this image ({rev} is newer)")
    missing = heads - reached
    if missing:
        return SchemaState(False, cur, f"waiting for {', '.join(sorted(missing))}")
    return SchemaState(True, cur, "at head" if current == heads else "ahead of this image")


async def current_revisions(database_url: str) -> set[str]:
    engine = create_engine(database_url, ssl=database_ssl_from_env(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            if not exists:
                return set()
            rows = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            return {str(r[0]) for r in rows}
    finally:
        await engine.dispose()


async def wait(
    alembic_ini: str,
    database_url: str,
    *,
    timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
    interval_s: float = WAIT_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
) -> SchemaState:
    """Poll until the database has this image's schema; TimeoutError after `timeout_s`. A
    database that cannot be reached yet is waited for too."""
    deadline = clock() + timeout_s
    last = ""
    while True:
        try:
            state = schema_state(alembic_ini, await current_revisions(database_url))
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            state = SchemaState(False, (), f"database not reachable: {type(exc).__name__}")
        if state.ready:
            log.info("schema_ready", current=list(state.current), why=state.why)
            return state
        if state.why != last:
            log.info("schema_waiting", current=list(state.current), why=state.why)
            last = state.why
        if clock() >= deadline:
            raise TimeoutError(f"schema not ready after {timeout_s:.0f}s: {state.why}")
        await asyncio.sleep(interval_s)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_runtime.migrate")
    parser.add_argument("command", choices=["upgrade", "wait"])
    parser.add_argument("--config", required=True, help="the service's alembic.ini")
    parser.add_argument("--lock", help="upgrade: the service name whose migration lock to take")
    parser.add_argument("--database-url", default=os.environ.get("CHAT_DATABASE_URL"))
    parser.add_argument("--timeout", type=float, default=DEFAULT_WAIT_TIMEOUT_S)
    args = parser.parse_args(argv)
    configure_logging("chat-migrate", "0", os.environ.get("CHAT_LOG_LEVEL", "INFO"))
    if not args.database_url:
        parser.error("no database URL: set CHAT_DATABASE_URL or pass --database-url")
    if args.command == "upgrade":
        if not args.lock:
            parser.error("upgrade needs --lock SERVICE (the service host's migration lock)")
        asyncio.run(upgrade(args.config, args.database_url, args.lock))
        return 0
    try:
        asyncio.run(wait(args.config, args.database_url, timeout_s=args.timeout))
    except TimeoutError as exc:
        sys.stderr.write(f"chat_runtime.migrate: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
