"""What a local stack consists of: services, replicas, ports, URLs and directories.

Pure data and path logic, no I/O beyond locating the repository, so it is easy to unit test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from chat_contracts import names
from chat_runtime.messaging.accounts import askers

from chat_devtools import accounts

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_EDGE_PORT = 8080


class ConfigError(ValueError):
    """The stack configuration cannot work (duplicate ports, unknown service...)."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the product and how many replicas of it run, on which ports."""

    name: str
    module: str
    ports: tuple[int, ...]
    database: str | None = None
    # Tests replace the real service with a stub; None means `python -m <module>`.
    command: tuple[str, ...] | None = None

    def replica_names(self) -> list[str]:
        """`gateway` for the first replica, `gateway-2`, `gateway-3`... for the others."""
        return [self.name if i == 0 else f"{self.name}-{i + 1}" for i in range(len(self.ports))]

    def argv(self) -> list[str]:
        return list(self.command) if self.command else [sys.executable, "-m", self.module]


def default_services(
    *,
    auth: tuple[int, ...] = (8001,),
    gateway: tuple[int, ...] = (8002,),
    message: tuple[int, ...] = (8003,),
    presence: tuple[int, ...] = (8004,),
    file: tuple[int, ...] = (8005,),
) -> tuple[ServiceSpec, ...]:
    return (
        ServiceSpec("auth", "auth_service", auth, database="chat_auth"),
        ServiceSpec("gateway", "gateway_service", gateway),
        ServiceSpec("message", "message_service", message, database="chat_messages"),
        ServiceSpec("presence", "presence_service", presence, database="chat_presence"),
        ServiceSpec("file", "file_service", file, database="chat_files"),
    )


def find_repo_root(start: Path | None = None) -> Path:
    """The directory holding the Makefile and docs/architecture.md (the shared working tree)."""
    env = os.environ.get("CHAT_REPO_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "docs" / "architecture.md").is_file() and (
            candidate / "libs" / "chat-runtime"
        ).is_dir():
            return candidate
    # Installed editable from devtools/src/chat_devtools: the repository is three levels up.
    return Path(__file__).resolve().parents[3]


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url` (any database path is replaced)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@dataclass(frozen=True)
class StackConfig:
    root: Path
    services: tuple[ServiceSpec, ...] = field(default_factory=default_services)
    amqp_url: str = DEFAULT_AMQP_URL
    postgres_url: str = DEFAULT_POSTGRES_URL
    # Per-database overrides; otherwise each database lives on the postgres_url server.
    database_urls: Mapping[str, str] = field(default_factory=dict)
    edge_port: int | None = DEFAULT_EDGE_PORT
    host: str = "127.0.0.1"
    log_dir: Path | None = None
    run_dir: Path | None = None
    frontend_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ready_timeout_s: float = 60.0
    stop_timeout_s: float = 15.0
    nginx_binary: str = "nginx"
    migrate: bool = True
    # ADR 0015: each service connects with its own broker account and database role (created
    # by Stack.prepare, the shared topology declared there with the admin URLs); False: every
    # service uses the admin accounts of amqp_url / postgres_url (private test brokers). A
    # stack on temporary databases (`database_urls`) is a test's own: admin accounts too.
    service_accounts: bool = False
    account_prefix: str = ""  # before every account and role name (tests)

    def __post_init__(self) -> None:
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ConfigError(f"service names must be unique, got {names}")
        ports = [p for s in self.services for p in s.ports]
        if self.edge_port is not None:
            ports.append(self.edge_port)
        duplicates = sorted({p for p in ports if ports.count(p) > 1})
        if duplicates:
            raise ConfigError(f"ports used twice: {duplicates}")
        if any(not s.ports for s in self.services):
            raise ConfigError("every service needs at least one port")

    @property
    def logs(self) -> Path:
        return self.log_dir or self.root / "var" / "log"

    @property
    def run(self) -> Path:
        return self.run_dir or self.root / "var" / "run"

    @property
    def frontend_dist(self) -> Path:
        return self.frontend_dir or self.root / "frontend" / "dist"

    @property
    def edge_url(self) -> str:
        return f"http://localhost:{self.edge_port}"

    def service(self, name: str) -> ServiceSpec:
        for spec in self.services:
            if spec.name == name:
                return spec
        raise ConfigError(f"no service named {name!r}")

    def database_url_for(self, spec: ServiceSpec) -> str | None:
        if spec.database is None:
            return None
        return self.database_urls.get(spec.database) or database_url(
            self.postgres_url, spec.database
        )

    def replicas(self) -> list[tuple[str, ServiceSpec, int]]:
        """(process name, service, port) for every replica, in start order."""
        return [
            (name, spec, port)
            for spec in self.services
            for name, port in zip(spec.replica_names(), spec.ports, strict=True)
        ]

    def allowed_origins(self) -> str:
        if self.edge_port is None:
            return "http://localhost:8080"
        return f"http://localhost:{self.edge_port},http://127.0.0.1:{self.edge_port}"

    def service_env(self, spec: ServiceSpec, port: int) -> dict[str, str]:
        """The CHAT_* environment of one replica (on top of the caller's environment)."""
        auth = [s for s in self.services if s.name == "auth"]
        auth_port = auth[0].ports[0] if auth else 8001
        env = {
            "CHAT_ENV": "dev",
            "CHAT_HOST": self.host,
            "CHAT_PORT": str(port),
            "CHAT_AMQP_URL": self.amqp_url,
            "CHAT_ALLOWED_ORIGINS": self.allowed_origins(),
            "CHAT_JWKS_URL": f"http://127.0.0.1:{auth_port}/v1/auth/jwks",
            # Logs go to files: Python must not hold lines back in a buffer.
            "PYTHONUNBUFFERED": "1",
        }
        db = self.database_url_for(spec)
        if db is not None:
            env["CHAT_DATABASE_URL"] = db
        if self.own_accounts:
            env.update(self.account_env(spec, db))
        if spec.name == "auth":
            env["CHAT_AUTH_KEYS_DIR"] = str(self.root / "var" / "keys")
        if spec.name == "file":
            # The local file store (api-v1.1 E); private stacks give their own in `env`.
            env["CHAT_FILE_DIR"] = str(self.root / "var" / "files")
        env.update(self.env)
        return env

    @property
    def own_accounts(self) -> bool:
        """Whether each service runs as its own broker account and database role."""
        return self.service_accounts and not self.database_urls

    def broker_accounts(self) -> list[accounts.BrokerAccount]:
        """The broker accounts of this stack's services (a stub service name has none)."""
        known = {a.service: a for a in accounts.broker_accounts(self.account_prefix)}
        return [known[s.name] for s in self.services if s.name in known]

    def database_role(self, spec: ServiceSpec) -> str | None:
        if spec.database is None:
            return None
        return accounts.database_role(spec.database, self.account_prefix)

    def account_env(self, spec: ServiceSpec, database_url: str | None) -> dict[str, str]:
        """The service's own broker account and database role instead of the admin ones."""
        env: dict[str, str] = {}
        mine = [a for a in self.broker_accounts() if a.service == spec.name]
        if mine:
            user = mine[0].user
            env["CHAT_AMQP_URL"] = accounts.with_credentials(
                self.amqp_url, user, accounts.dev_password(user)
            )
            env["CHAT_AMQP_DECLARE_TOPOLOGY"] = "false"
        role = self.database_role(spec)
        if role is not None and database_url is not None:
            env["CHAT_DATABASE_URL"] = accounts.with_credentials(
                database_url, role, accounts.dev_password(role)
            )
        if spec.name == "message":
            env["CHAT_COMMAND_SENDER"] = accounts.gateway_user(self.account_prefix)
            env["CHAT_QUERY_SENDERS"] = ",".join(
                askers(names.MESSAGE_QUERY_QUEUE, self.account_prefix)
            )
        return env

    def with_services(self, services: tuple[ServiceSpec, ...]) -> StackConfig:
        return replace(self, services=services)


def _replica_ports(env: Mapping[str, str], variable: str, port: int) -> tuple[int, ...]:
    """`port` for the first replica, 28000 + port % 1000 + 10 * i for replica i."""
    count = int(env.get(variable, "1"))
    if count < 1:
        raise ConfigError(f"{variable} must be at least 1, got {count}")
    return tuple(port if i == 0 else 28000 + port % 1000 + 10 * i for i in range(count))


def config_from_env(
    root: Path | None = None, environ: Mapping[str, str] | None = None
) -> StackConfig:
    """The `make run` configuration, adjustable through a few CHAT_STACK_* variables:
    CHAT_STACK_GATEWAYS / CHAT_STACK_MESSAGE_SERVICES replicas of the gateway / message-service
    (the first on its standard port, the others on 28012, 28022… / 28013, 28023…, all behind
    the edge; message-service replicas share the send shards, ADR 0008);
    CHAT_STACK_SERVICE_ACCOUNTS=0 runs every service as the admin accounts instead of its own
    (ADR 0015)."""
    env = os.environ if environ is None else environ
    return StackConfig(
        root=root or find_repo_root(),
        services=default_services(
            gateway=_replica_ports(env, "CHAT_STACK_GATEWAYS", 8002),
            message=_replica_ports(env, "CHAT_STACK_MESSAGE_SERVICES", 8003),
        ),
        amqp_url=env.get("CHAT_AMQP_URL", DEFAULT_AMQP_URL),
        postgres_url=env.get("CHAT_STACK_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        ready_timeout_s=float(env.get("CHAT_STACK_READY_TIMEOUT", "60")),
        service_accounts=env.get("CHAT_STACK_SERVICE_ACCOUNTS", "1").lower()
        not in {"0", "false", "no"},
    )
