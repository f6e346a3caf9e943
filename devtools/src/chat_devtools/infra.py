"""Make sure PostgreSQL and RabbitMQ answer, create the service databases, run migrations.

Only starts a server that is installed here and stopped; never stops or restarts one.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

T = TypeVar("T")


class InfraError(RuntimeError):
    """A prerequisite is missing; the message is one line telling a person what to do."""


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _is_local(host: str) -> bool:
    return host in {"127.0.0.1", "localhost", "::1"}


def ensure_postgres(url: str, *, timeout: float = 30.0) -> None:
    host, port = host_port(url, 5432)
    if port_open(host, port):
        return
    clusters = Path("/etc/postgresql")
    if _is_local(host) and shutil.which("pg_ctlcluster") and clusters.is_dir():
        versions = sorted(p.name for p in clusters.iterdir() if p.is_dir())
        if versions:
            sys.stderr.write(f"PostgreSQL is stopped; starting cluster {versions[-1]}/main\n")
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
                check=False,
                stdin=subprocess.DEVNULL,
            )
            if wait_until(lambda: port_open(host, port), timeout):
                return
    raise InfraError(
        f"PostgreSQL is not reachable at {host}:{port}: install and start it "
        "(apt-get install postgresql, trust auth for user postgres) or set CHAT_STACK_POSTGRES_URL."
    )


def ensure_rabbitmq(url: str, *, timeout: float = 60.0) -> None:
    host, port = host_port(url, 5672)
    if port_open(host, port):
        return
    if _is_local(host) and shutil.which("rabbitmq-server"):
        sys.stderr.write("RabbitMQ is stopped; starting it (rabbitmq-server -detached)\n")
        subprocess.run(
            ["rabbitmq-server", "-detached"],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if wait_until(lambda: port_open(host, port), timeout, interval=0.5):
            return
    raise InfraError(
        f"RabbitMQ is not reachable at {host}:{port}: install and start it "
        "(apt-get install rabbitmq-server) or set CHAT_AMQP_URL."
    )


async def _create_database(server_url: str, name: str) -> bool:
    parts = urlsplit(asyncpg_dsn(server_url))
    admin_dsn = parts._replace(path="/postgres").geturl()
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        # Identifiers cannot be bound parameters; the name comes from our own config.
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    except asyncpg.DuplicateDatabaseError:
        return False  # created concurrently by another run
    finally:
        await conn.close()


def create_database(database_url: str) -> bool:
    """Create the database of this URL when missing; True when it was created."""
    name = urlsplit(database_url).path.lstrip("/")
    if not name:
        raise InfraError(f"no database name in {database_url}")
    return run_sync(lambda: _create_database(database_url, name))


def _runtime_migrator() -> Callable[[str, str], None] | None:
    try:
        module = importlib.import_module("chat_runtime.db")
    except ImportError:
        return None
    fn = getattr(module, "run_migrations", None)
    return fn if callable(fn) else None


def run_migrations(ini_path: Path, database_url: str, log_path: Path | None = None) -> None:
    """Upgrade to head, in a subprocess so a broken env.py cannot take this process down."""
    if not ini_path.is_file():
        raise InfraError(f"no Alembic configuration at {ini_path}")
    if _runtime_migrator() is not None:
        code = (
            "import sys; from chat_runtime.db import run_migrations; "
            "run_migrations(sys.argv[1], sys.argv[2])"
        )
        argv = [sys.executable, "-c", code, str(ini_path), database_url]
    else:
        alembic = Path(sys.executable).with_name("alembic")
        argv = [str(alembic), "-c", str(ini_path), "upgrade", "head"]
    env = {**os.environ, "CHAT_DATABASE_URL": database_url}
    proc = subprocess.run(
        argv,
        cwd=ini_path.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a") as fh:
            fh.write(f"--- migrations {ini_path} -> {database_url}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        last = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise InfraError(f"migrations of {ini_path.parent.name} failed:\n{last}")

