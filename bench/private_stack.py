"""Run bench/load.py against a private stack on ports 18001-18004 (edge 18080; `--port-base N`
moves them to N+1..N+4 and edge N+80), with its own RabbitMQ vhost and databases on the shared
servers, so a benchmark neither disturbs nor is disturbed by a `make run` stack or other test
runs. Arguments after `--` go to load.py.

    .venv/bin/python bench/private_stack.py -- --clients 200 --rooms 10 --rate 200 --duration 20
    .venv/bin/python bench/private_stack.py --port-base 28700 -- --clients 200 --rooms 10

The vhost `chat-bench` and the databases `chat_bench_*` are kept between runs, so the users
cached in bench/results/tmp/.users-private.json (git-ignored) stay valid; `--cleanup` removes
them afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from chat_devtools.config import default_services, find_repo_root
from chat_devtools.stack import Stack
from stack_config import bench_stack_config

DEFAULT_PORT_BASE = 18000
SERVICES = ("auth", "gateway", "message", "presence")
VHOST = "chat-bench"
DATABASES = {"chat_auth": "chat_bench_auth", "chat_messages": "chat_bench_messages"}
DATABASES["chat_presence"] = "chat_bench_presence"
SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def rabbitmqctl(*args: str, check: bool = True) -> None:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([ctl, *args], check=check, capture_output=True)


def ensure_vhost() -> str:
    rabbitmqctl("add_vhost", VHOST, check=False)  # fails harmlessly when it exists
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    return f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"


async def outbox_lag(since: datetime) -> dict[str, object]:
    """How long message-service's events waited in its outbox (commit to broker confirm)."""
    conn = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:5432/{DATABASES['chat_messages']}"
    )
    try:
        row = await conn.fetchrow(
            """
            SELECT count(*) AS events, count(published_at) AS published,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) AS p99,
                   max(lag) AS max
            FROM (SELECT published_at,
                         extract(epoch FROM published_at - created_at) * 1000 AS lag
                  FROM outbox WHERE created_at >= $1) AS t
            """,
            since,
        )
    finally:
        await conn.close()
    assert row is not None
    out: dict[str, object] = {"events": row["events"], "published": row["published"]}
    for key in ("p50", "p99", "max"):
        out[f"{key}_ms"] = None if row[key] is None else round(float(row[key]), 1)
    return out


async def vacuum_databases() -> None:
    """VACUUM ANALYZE the bench databases before a run. The machine's PostgreSQL runs with
    autovacuum off, and without it every run left the next one slower: the rooms' last_seq and
    the read positions are updated hundreds of times a second, and dead rows piled up (CPU per
    message rose run after run until this was added)."""
    for name in DATABASES.values():
        try:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        except asyncpg.InvalidCatalogNameError:
            continue  # not created yet: the stack creates and migrates it
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()


async def run_sql(database: str, statement: str) -> None:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
    print(json.dumps({"messages_sql": statement}), flush=True)


async def drop_databases(names: Sequence[str] = tuple(DATABASES.values())) -> None:
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cleanup", action="store_true", help="drop vhost and databases after")
    parser.add_argument(
        "--messages-sql",
        action="append",
        default=[],
        help="SQL run on the bench's message database after the migrations, before the run "
        "(e.g. 'DROP INDEX IF EXISTS messages_search' to measure without an index); repeatable",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=DEFAULT_PORT_BASE,
        help="services on N+1..N+4 (auth, gateway, message, presence), the edge on N+80",
    )
    parser.add_argument("load_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    ports = {name: args.port_base + 1 + i for i, name in enumerate(SERVICES)}
    edge_port = args.port_base + 80
    load_args = [a for a in args.load_args if a != "--"]
    root = find_repo_root()
    work = Path("/tmp/chat-bench-stack")
    # Rooms and memberships start empty every run; users (and their cache) are kept. With the old
    # rooms kept, every run added 50 rooms to each user's memberships and the gateway's bindings,
    # and each run was measurably slower than the one before.
    asyncio.run(drop_databases([DATABASES["chat_messages"], DATABASES["chat_presence"]]))
    rabbitmqctl("delete_vhost", VHOST, check=False)
    config = bench_stack_config(
        root=root,
        services=default_services(
            auth=(ports["auth"],),
            gateway=(ports["gateway"],),
            message=(ports["message"],),
            presence=(ports["presence"],),
        ),
        amqp_url=ensure_vhost(),
        database_urls={k: f"{SERVER}/{v}" for k, v in DATABASES.items()},
        edge_port=edge_port,
        workdir=work,
    )
    stack = Stack(config)
    status = 1
    try:
        with stack.running():
            command = [
                sys.executable,
                str(root / "bench" / "load.py"),
                "--base-url",
                f"http://127.0.0.1:{edge_port}",
                "--service-ports",
                ",".join(str(ports[n]) for n in SERVICES),
                "--user-cache",
                str(root / "bench" / "results" / "tmp" / ".users-private.json"),
                *load_args,
            ]
            for statement in args.messages_sql:
                asyncio.run(run_sql(DATABASES["chat_messages"], statement))
            asyncio.run(vacuum_databases())
            started = datetime.now(UTC)
            status = subprocess.run(command, cwd=root, check=False).returncode
            lag = asyncio.run(outbox_lag(started))
            print(json.dumps({"message_service_outbox_lag": lag}), flush=True)
    finally:
        if args.cleanup:
            asyncio.run(drop_databases())
            rabbitmqctl("delete_vhost", VHOST, check=False)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
