"""One broker account and one database role per service (ADR 0015), created idempotently.

What each account may do is `chat_runtime.messaging.accounts` (its table, as RabbitMQ regexes;
shared with compose's `chat_runtime.provision` and Kubernetes' `chat_devtools.k8s_accounts`);
this module applies it to the local servers. Locally (`make run`, the e2e stack) `Stack.prepare`
applies it with `rabbitmqctl import_definitions` (one call; merges, never removes) and SQL as the
PostgreSQL superuser.
Local passwords are fixed and not secret (`dev-<account>`): the local servers trust loopback.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from chat_runtime import provision
from chat_runtime.db_roles import ensure_owner_role
from chat_runtime.messaging.accounts import (
    BrokerAccount,
    broker_account,
    broker_accounts,
    database_role,
    definitions,
    gateway_user,
)

from chat_devtools.infra import InfraError, run_sync

__all__ = [
    "BrokerAccount",
    "apply_broker_accounts",
    "broker_account",
    "broker_accounts",
    "database_role",
    "declare_shared_topology",
    "delete_broker_users",
    "dev_password",
    "ensure_database_role",
    "gateway_user",
    "vhost_of",
    "with_credentials",
]


def dev_password(account: str) -> str:
    """Local-only password: the local servers trust loopback; compose and k8s use secrets."""
    return f"dev-{account}"


def with_credentials(url: str, user: str, password: str) -> str:
    """`url` with its user and password replaced (host, port, path and query kept)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def vhost_of(amqp_url: str) -> str:
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


# -- RabbitMQ ---------------------------------------------------------------------------------


def rabbitmqctl(*args: str, timeout: float = 60.0) -> str:
    binary = shutil.which("rabbitmqctl")
    if binary is None:
        raise InfraError(
            "rabbitmqctl is not installed here: per-service broker accounts cannot be created "
            "(set CHAT_STACK_SERVICE_ACCOUNTS=0 to run every service as the admin account)."
        )
    proc = subprocess.run(
        [binary, "-q", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise InfraError(f"rabbitmqctl {args[0]} failed: {' '.join(detail)}")
    return proc.stdout


def apply_broker_accounts(
    accounts: Sequence[BrokerAccount], vhost: str, passwords: Mapping[str, str]
) -> None:
    """Create or update the accounts and set their permissions in `vhost` (one rabbitmqctl
    call; import_definitions merges: other users and permissions are left alone)."""
    with tempfile.TemporaryDirectory(prefix="chat-accounts-") as tmp:
        path = Path(tmp) / "definitions.json"
        path.write_text(json.dumps(definitions(accounts, vhost, passwords)))
        path.chmod(0o644)  # the broker (user rabbitmq) reads it
        Path(tmp).chmod(0o755)
        rabbitmqctl("import_definitions", str(path))


def delete_broker_users(users: Iterable[str]) -> None:
    for user in users:
        with contextlib.suppress(InfraError):  # already gone
            rabbitmqctl("delete_user", user)


# -- PostgreSQL -------------------------------------------------------------------------------


def ensure_database_role(server_url: str, database: str, role: str, password: str) -> None:
    """Create or update `role` (login, no other power), make it the owner of `database` and of
    every object in it, and let no other role connect. Idempotent; needs a superuser URL."""
    run_sync(lambda: ensure_owner_role(server_url, database, role, password))


def declare_shared_topology(amqp_url: str, *, shards: int, delivery_limit: int = 5) -> None:
    """Exchanges and shared queues, declared once with an administrator's URL: service
    accounts may only declare their own per-process queues (CHAT_AMQP_DECLARE_TOPOLOGY)."""
    try:
        run_sync(
            lambda: provision.declare_shared_topology(
                amqp_url, shards=shards, delivery_limit=delivery_limit, retry_for_s=10.0
            )
        )
    except Exception as exc:
        raise InfraError(f"could not declare the broker topology: {exc!r}") from exc
