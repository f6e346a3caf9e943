"""One-shot administrator jobs that give each service its own accounts (ADR 0015), for compose.

    python -m chat_runtime.provision broker-definitions --out FILE [--vhost /]
        RabbitMQ definitions for the broker to load at boot: the administrator
        (CHAT_AMQP_ADMIN_USER, CHAT_AMQP_ADMIN_PASSWORD) and each service's account with its
        permissions (chat_runtime.messaging.accounts), passwords from CHAT_AMQP_PASSWORD_<SERVICE>
        (AUTH, GATEWAY, MESSAGE, PRESENCE, FILE). Writes salted hashes, never the passwords.
    python -m chat_runtime.provision topology
        Declares the exchanges and shared queues with an administrator's CHAT_AMQP_URL
        (CHAT_AMQP_CA_FILE, CHAT_SEND_SHARDS, CHAT_DELIVERY_LIMIT): service accounts may not.
    python -m chat_runtime.provision database-owner --database NAME --password-env VAR
        Creates the database if missing and its owner role NAME_owner with the password in $VAR,
        hands it every object and closes the database to other roles (chat_runtime.db_roles),
        with a superuser's CHAT_DATABASE_URL (CHAT_DATABASE_CA_FILE).

Each is idempotent: compose runs them at every `up`. Kubernetes uses the operators' resources
instead (deploy/k8s/broker-accounts.yaml, the CloudNativePG managed roles) and this module's
`topology` as a Job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from chat_runtime.db_roles import ensure_owner_role
from chat_runtime.logging import configure_logging, get_logger
from chat_runtime.messaging.accounts import broker_accounts, database_role, definitions
from chat_runtime.messaging.broker import Broker
from chat_runtime.messaging.topology import DELIVERY_LIMIT, declare_topology
from chat_runtime.tls import WEAK_PASSWORDS, client_context, database_ssl_from_env

log = get_logger(__name__)


class ProvisionError(Exception):
    """A setting is missing or refused: the one line says which."""


def _secret(environ: Mapping[str, str], variable: str) -> str:
    value = environ.get(variable, "")
    if value in WEAK_PASSWORDS:
        raise ProvisionError(f"{variable} is empty or a default password: set a real one")
    return value


def password_variable(service: str) -> str:
    """The environment variable holding `service`'s broker password (CHAT_AMQP_PASSWORD_AUTH)."""
    return f"CHAT_AMQP_PASSWORD_{service.upper()}"


def broker_definitions(environ: Mapping[str, str], vhost: str = "/") -> dict[str, object]:
    """The definitions file's content, from the environment (refusing empty passwords)."""
    accounts = broker_accounts()
    passwords = {a.user: _secret(environ, password_variable(a.service)) for a in accounts}
    admin_user = environ.get("CHAT_AMQP_ADMIN_USER", "")
    if not admin_user:
        raise ProvisionError("CHAT_AMQP_ADMIN_USER is empty: name the administrator account")
    admin = (admin_user, _secret(environ, "CHAT_AMQP_ADMIN_PASSWORD"))
    return definitions(accounts, vhost, passwords, admin=admin)


def write_broker_definitions(out: Path, environ: Mapping[str, str], vhost: str = "/") -> None:
    content = json.dumps(broker_definitions(environ, vhost), indent=2)
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_text(content, encoding="utf-8")
    temporary.chmod(0o644)  # the broker runs as another user; hashes only
    temporary.replace(out)


async def declare_shared_topology(
    url: str,
    *,
    shards: int,
    delivery_limit: int = DELIVERY_LIMIT,
    ssl_context: ssl.SSLContext | None = None,
    retry_for_s: float = 120.0,
) -> None:
    """Declare the exchanges and shared queues with an administrator's `url` (waiting up to
    `retry_for_s` for the broker to accept connections)."""
    broker = Broker(url, service="provision", ssl_context=ssl_context)
    await broker.connect(retry_for_s=retry_for_s)
    try:
        await declare_topology(broker.channel, shards, delivery_limit=delivery_limit)
    finally:
        await broker.close()


async def _topology_from_env(environ: Mapping[str, str]) -> None:
    url = environ.get("CHAT_AMQP_URL", "")
    if not url:
        raise ProvisionError("CHAT_AMQP_URL is empty: give an administrator's broker URL")
    ca_file = environ.get("CHAT_AMQP_CA_FILE", "").strip()
    await declare_shared_topology(
        url,
        shards=int(environ.get("CHAT_SEND_SHARDS", "8")),
        delivery_limit=int(environ.get("CHAT_DELIVERY_LIMIT", str(DELIVERY_LIMIT))),
        ssl_context=client_context(ca_file) if ca_file else None,
    )


async def provision_database_owner(
    environ: Mapping[str, str], database: str, password_env: str
) -> None:
    url = environ.get("CHAT_DATABASE_URL", "")
    if not url:
        raise ProvisionError("CHAT_DATABASE_URL is empty: give a superuser's database URL")
    password = _secret(environ, password_env)
    await ensure_owner_role(
        url, database, database_role(database), password, ssl=database_ssl_from_env()
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m chat_runtime.provision")
    commands = parser.add_subparsers(dest="command", required=True)
    defs = commands.add_parser("broker-definitions", help="RabbitMQ definitions to load at boot")
    defs.add_argument("--out", type=Path, required=True)
    defs.add_argument("--vhost", default="/")
    commands.add_parser("topology", help="declare the shared exchanges and queues")
    owner = commands.add_parser("database-owner", help="a database's own owner role")
    owner.add_argument("--database", required=True)
    owner.add_argument("--password-env", required=True, help="the variable with its password")
    args = parser.parse_args(argv)
    configure_logging("chat-provision", "0", env.get("CHAT_LOG_LEVEL", "INFO"))
    try:
        if args.command == "broker-definitions":
            write_broker_definitions(args.out, env, args.vhost)
        elif args.command == "topology":
            asyncio.run(_topology_from_env(env))
        else:
            asyncio.run(provision_database_owner(env, args.database, args.password_env))
    except ProvisionError as exc:
        sys.stderr.write(f"chat_runtime.provision: {exc}\n")
        return 2
    log.info("provisioned", command=args.command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
