"""The private stacks of the mixed-version test: one service runs the previous release's code.

Each scenario gets ports 281xx, its own RabbitMQ vhost, its own databases and its own edge, so it
neither disturbs nor is disturbed by a `make run` stack or other test runs. Every database is
created and migrated by the code that will use it (the previous release's service by its own
migrations). Every service runs with `CHAT_FEATURES=` (none), as during an upgrade.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
from chat_devtools import infra
from chat_devtools.config import StackConfig, default_services
from chat_devtools.previous_release import PreviousTree
from chat_devtools.stack import Stack, StackError

SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
BROKER = "127.0.0.1:5672"


@dataclass(frozen=True)
class Scenario:
    name: str
    previous: str  # the service that runs the previous release's code
    base_port: int  # services on base+1..4 (auth, gateway, message, presence), the edge on base+80

    @property
    def description(self) -> str:
        return f"the previous release's {self.previous}-service, every other service current"


SCENARIOS = (
    Scenario("previous-gateway", "gateway", 28100),
    Scenario("previous-message", "message", 28110),
)


@dataclass
class MixedStack:
    scenario: Scenario
    previous: PreviousTree
    stack: Stack
    edge_url: str

    def where(self) -> str:
        """Context for assertion messages."""
        return (
            f"[{self.scenario.name}: {self.scenario.previous}-service at release "
            f"{self.previous.release}; logs in {self.stack.config.logs}]"
        )


def _rabbitmqctl(*args: str) -> None:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    proc = subprocess.run([ctl, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise StackError(f"rabbitmqctl {' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")


async def _drop_databases(names: list[str]) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def stack_config(scenario: Scenario, previous: PreviousTree, root: Path, tag: str) -> StackConfig:
    base = scenario.base_port
    services = tuple(
        replace(spec, command=previous.command(spec.name))
        if spec.name == scenario.previous
        else spec
        for spec in default_services(
            auth=(base + 1,), gateway=(base + 2,), message=(base + 3,), presence=(base + 4,)
        )
    )
    work = root / "var" / "compat" / f"run-{scenario.name}"
    return StackConfig(
        root=root,
        services=services,
        amqp_url=f"amqp://guest:guest@{BROKER}/compat-{scenario.name}-{tag}",
        database_urls={
            "chat_auth": f"{SERVER_URL}/compat_auth_{tag}",
            "chat_messages": f"{SERVER_URL}/compat_msg_{tag}",
            "chat_presence": f"{SERVER_URL}/compat_pres_{tag}",
        },
        edge_port=base + 80,
        log_dir=work / "log",
        run_dir=work / "run",
        env={"CHAT_FEATURES": "", "CHAT_AUTH_KEYS_DIR": str(work / "keys")},
    )


def prepare(config: StackConfig, scenario: Scenario, previous: PreviousTree) -> None:
    """Broker and database reachable; databases created and migrated (in parallel)."""
    infra.ensure_rabbitmq(config.amqp_url)
    infra.ensure_postgres(ADMIN_DSN)
    log = config.logs / "migrations.log"

    def migrate(name: str) -> None:
        url = config.database_url_for(config.service(name))
        assert url is not None
        infra.create_database(url)
        if name == scenario.previous:
            previous.migrate(name, url, log_path=log)
        else:
            infra.run_migrations(config.root / f"{name}-service" / "alembic.ini", url, log)

    names = [s.name for s in config.services if s.database]
    with ThreadPoolExecutor(len(names)) as pool:
        for future in [pool.submit(migrate, n) for n in names]:
            future.result()


@contextmanager
def mixed_stack(scenario: Scenario, previous: PreviousTree, root: Path) -> Iterator[MixedStack]:
    """Start the scenario's stack; stop it and drop its vhost and databases afterwards."""
    tag = uuid.uuid4().hex[:8]
    config = stack_config(scenario, previous, root, tag)
    shutil.rmtree(config.logs.parent, ignore_errors=True)
    vhost = config.amqp_url.rsplit("/", 1)[1]
    databases = [url.rsplit("/", 1)[1] for url in config.database_urls.values()]
    stack = Stack(config)
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        prepare(config, scenario, previous)
        stack.start()
        try:
            yield MixedStack(scenario, previous, stack, f"http://127.0.0.1:{config.edge_port}")
        finally:
            stack.stop()
    finally:
        infra.run_sync(lambda: _drop_databases(databases))
        _rabbitmqctl("delete_vhost", vhost)
