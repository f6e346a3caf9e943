"""The private stacks of the mixed-version test: one service runs the previous release's code.

Each scenario gets ports 281xx (`CHAT_COMPAT_BASE_PORT` moves them all, default 28100), its own
RabbitMQ vhost, its own databases and its own edge, so it neither disturbs nor is disturbed by a
`make run` stack or other test runs. Every database is created and migrated by the code that
will use it (the previous release's service by its own migrations). The scenarios of SCENARIOS
run every service with `CHAT_FEATURES=` (none), as during an upgrade; ENTRIES_SCENARIO switches
`entries` on in the current services (the previous one keeps `CHAT_FEATURES=`) and runs a
current gateway beside the previous one.
"""

from __future__ import annotations

import os
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
from chat_devtools.config import ServiceSpec, StackConfig, default_services
from chat_devtools.previous_release import PreviousTree
from chat_devtools.stack import Stack, StackError

SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
BROKER = "127.0.0.1:5672"
BASE_PORT_ENV = "CHAT_COMPAT_BASE_PORT"
DEFAULT_BASE_PORT = 28100
# The process name of the current gateway beside the previous one (ENTRIES_SCENARIO). The edge
# routes only to the previous gateway; tests reach this one on its own port.
CURRENT_GATEWAY = "gateway-current"


def compat_base_port() -> int:
    return int(os.environ.get(BASE_PORT_ENV, str(DEFAULT_BASE_PORT)))


@dataclass(frozen=True)
class Scenario:
    name: str
    previous: str  # the service that runs the previous release's code
    # Services on base+1..4 (auth, gateway, message, presence), a current gateway beside a
    # previous one on base+5, the edge on base+edge_offset; base = compat base port + offset.
    offset: int
    features: str = ""  # CHAT_FEATURES of the current services
    current_gateway: bool = False
    edge_offset: int = 80

    @property
    def base_port(self) -> int:
        return compat_base_port() + self.offset

    @property
    def edge_port(self) -> int:
        return self.base_port + self.edge_offset

    @property
    def description(self) -> str:
        text = f"the previous release's {self.previous}-service, every other service current"
        if self.current_gateway:
            text += ", plus a current gateway"
        if self.features:
            text += f"; CHAT_FEATURES={self.features} in the current services"
        return text


SCENARIOS = (
    Scenario("previous-gateway", "gateway", 0),
    Scenario("previous-message", "message", 10),
)
# A reaction and a refusal crossing a gateway one release behind (issue #14): `entries` on in
# the current services, off in the previous gateway (whose clients are not offered the actions).
ENTRIES_SCENARIO = Scenario(
    "previous-gateway-entries",
    "gateway",
    20,
    features="entries",
    current_gateway=True,
    edge_offset=50,
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

    @property
    def current_gateway_ws_url(self) -> str:
        """The WebSocket URL of the current gateway beside the previous one (not behind the
        edge, which routes to the previous gateway only)."""
        if not self.scenario.current_gateway:
            raise StackError(f"{self.scenario.name} runs no current gateway")
        http = self.stack.url(CURRENT_GATEWAY)
        return "ws" + http.removeprefix("http") + "/v1/ws"


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


def _previous_command(previous: PreviousTree, service: str) -> tuple[str, ...]:
    """The previous release's service, always with `CHAT_FEATURES=` (an upgrade switches
    features on only once every service runs the new release)."""
    env, *rest = previous.command(service)
    return (env, "CHAT_FEATURES=", *rest)


def stack_config(scenario: Scenario, previous: PreviousTree, root: Path, tag: str) -> StackConfig:
    base = scenario.base_port
    services: tuple[ServiceSpec, ...] = tuple(
        replace(spec, command=_previous_command(previous, spec.name))
        if spec.name == scenario.previous
        else spec
        for spec in default_services(
            auth=(base + 1,), gateway=(base + 2,), message=(base + 3,), presence=(base + 4,)
        )
        # Files are not part of the mixed-version scenarios (api-v1.1 E came after 0.3.0).
        if spec.name != "file"
    )
    if scenario.current_gateway:
        services += (ServiceSpec(CURRENT_GATEWAY, "gateway_service", (base + 5,)),)
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
        edge_port=scenario.edge_port,
        log_dir=work / "log",
        run_dir=work / "run",
        env={"CHAT_FEATURES": scenario.features, "CHAT_AUTH_KEYS_DIR": str(work / "keys")},
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
