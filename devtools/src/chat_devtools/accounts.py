"""One broker account and one database role per service (ADR 0015), created idempotently.

The table below is the single source of what each service may do on the bus: which queues it
may declare (configure: only its own per-process queues; the shared topology is declared once,
by an administrator), which exchanges and queues it may write to (publish, bind a queue of its
own), which it may read (consume, bind from), and, on the topic exchange `chat.events`, which
routing keys it may publish (topic write) and bind (topic read). Request/reply needs write on
the default exchange (`amq.default`), which reaches any queue by name: message-service therefore
also checks the broker-validated AMQP `user_id` of every command (`CHAT_COMMAND_SENDER`).

Locally (`make run`, the e2e stack) `Stack.prepare` applies it with `rabbitmqctl
import_definitions` (one call; merges, never removes) and SQL as the PostgreSQL superuser.
Local passwords are fixed and not secret (`dev-<account>`): the local servers trust loopback.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika
import asyncpg
import yaml
from chat_contracts import names
from chat_runtime.messaging.topology import declare_topology

from chat_devtools.infra import InfraError, asyncpg_dsn, run_sync

EVENTS = names.EXCHANGE_EVENTS
TABLE = Path(__file__).with_name("service_accounts.yaml")
_ID = r"[0-9A-Fa-f-]+"  # a room or user id (a UUID) as one routing-key word
_HOLES = {re.escape("{id}"): _ID, re.escape("{n}"): "[0-9]+"}


def name_pattern(name: str) -> str:
    """The regex of one name of the table: `{id}` one id word, `{n}` digits, `*` at the end
    any suffix; everything else literal."""
    wildcard = name.endswith("*")
    pattern = re.escape(name[:-1] if wildcard else name)
    for hole, regex in _HOLES.items():
        pattern = pattern.replace(hole, regex)
    return pattern + (".+" if wildcard else "")


def _one_of(names_: Iterable[str]) -> str:
    """A regex matching exactly one of `names_` (table names), nothing else."""
    patterns = [name_pattern(n) for n in names_]
    return "^(" + "|".join(patterns) + ")$" if patterns else "^$"


@dataclass(frozen=True)
class BrokerAccount:
    """What one service's broker account may do in its virtual host (RabbitMQ regexes)."""

    service: str  # the stack's service name ("gateway")
    user: str  # the account ("gateway-service")
    configure: str
    write: str
    read: str
    topic_write: str  # routing keys it may publish to chat.events
    topic_read: str  # binding keys it may bind from chat.events


def _account(service: str, entry: Mapping[str, Any], prefix: str) -> BrokerAccount:
    own = list(entry.get("own_queues", []))
    binds = list(entry.get("binds", []))
    return BrokerAccount(
        service=service,
        user=prefix + str(entry["user"]),
        configure=_one_of(own),
        write=_one_of([*entry.get("publishes_to", []), *own]),
        read=_one_of([*entry.get("consumes", []), *own, *([EVENTS] if binds else [])]),
        topic_write=_one_of(entry.get("event_keys", [])),
        topic_read=_one_of(binds),
    )


@cache
def _table() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    return loaded


def broker_accounts(prefix: str = "") -> tuple[BrokerAccount, ...]:
    """Every service's account (service_accounts.yaml); `prefix` goes before each account name
    (tests)."""
    return tuple(
        _account(service, entry, prefix) for service, entry in _table()["accounts"].items()
    )


def broker_account(service: str, prefix: str = "") -> BrokerAccount:
    for account in broker_accounts(prefix):
        if account.service == service:
            return account
    raise KeyError(f"no broker account for service {service!r}")


def gateway_user(prefix: str = "") -> str:
    """The account message-service accepts commands from (CHAT_COMMAND_SENDER)."""
    return broker_account("gateway", prefix).user


def database_role(database: str, prefix: str = "") -> str:
    """The role that owns `database` (chat_auth -> chat_auth_owner)."""
    return f"{prefix}{database}_owner"


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


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def definitions(
    accounts: Sequence[BrokerAccount], vhost: str, passwords: Mapping[str, str]
) -> dict[str, Any]:
    """RabbitMQ definitions (users, permissions, topic permissions) for `accounts`."""
    return {
        "users": [
            {
                "name": a.user,
                "password_hash": password_hash(passwords[a.user]),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
                "limits": {},
            }
            for a in accounts
        ],
        "permissions": [
            {
                "user": a.user,
                "vhost": vhost,
                "configure": a.configure,
                "write": a.write,
                "read": a.read,
            }
            for a in accounts
        ],
        "topic_permissions": [
            {
                "user": a.user,
                "vhost": vhost,
                "exchange": EVENTS,
                "write": a.topic_write,
                "read": a.topic_read,
            }
            for a in accounts
        ],
    }


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

# Every object of the database's own schemas that is not part of an extension and not owned by
# the role yet: made the role's, so migrations and the service can change and use it.
_OWN_EVERYTHING = r"""
DO $do$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT n.nspname FROM pg_namespace n
    WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
      AND n.nspowner <> '{role}'::regrole
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                      AND d.objid = n.oid AND d.deptype = 'e')
      AND n.nspowner <> 'pg_database_owner'::regrole
  LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, '{role}');
  END LOOP;
  FOR r IN
    SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
      AND c.relowner <> '{role}'::regrole
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
        WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
      r.oid::regclass, '{role}');
  END LOOP;
  FOR r IN
    SELECT t.oid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
      AND t.typowner <> '{role}'::regrole AND t.typtype IN ('e', 'd')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                      AND d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO %I', r.oid::regtype, '{role}');
  END LOOP;
  FOR r IN
    SELECT p.oid, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
      AND p.proowner <> '{role}'::regrole
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I',
      CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
      r.oid::regprocedure, '{role}');
  END LOOP;
  FOR r IN
    SELECT c.oid FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace
    WHERE n.nspname NOT LIKE 'pg\_%' AND c.cfgowner <> '{role}'::regrole
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_ts_config'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER TEXT SEARCH CONFIGURATION %s OWNER TO %I',
      r.oid::regconfig, '{role}');
  END LOOP;
  FOR r IN
    SELECT t.oid FROM pg_ts_dict t JOIN pg_namespace n ON n.oid = t.dictnamespace
    WHERE n.nspname NOT LIKE 'pg\_%' AND t.dictowner <> '{role}'::regrole
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_ts_dict'::regclass
                      AND d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER TEXT SEARCH DICTIONARY %s OWNER TO %I',
      r.oid::regdictionary, '{role}');
  END LOOP;
END
$do$;
"""

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise InfraError(f"not a plain PostgreSQL identifier: {name!r}")
    return name


def _literal_sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def _ensure_role(server_url: str, database: str, role: str, password: str) -> None:
    role, database = _ident(role), _ident(database)
    admin = urlsplit(asyncpg_dsn(server_url))
    conn = await asyncpg.connect(admin._replace(path="/postgres").geturl(), timeout=10)
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
    conn = await asyncpg.connect(admin._replace(path=f"/{database}").geturl(), timeout=10)
    try:
        await conn.execute(_OWN_EVERYTHING.replace("{role}", role))
    finally:
        await conn.close()


def ensure_database_role(server_url: str, database: str, role: str, password: str) -> None:
    """Create or update `role` (login, no other power), make it the owner of `database` and of
    every object in it, and let no other role connect. Idempotent; needs a superuser URL."""
    run_sync(lambda: _ensure_role(server_url, database, role, password))


async def _declare_topology(amqp_url: str, shards: int, delivery_limit: int) -> None:
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        channel = await connection.channel()
        await declare_topology(channel, shards, delivery_limit=delivery_limit)
    finally:
        await connection.close()


def declare_shared_topology(amqp_url: str, *, shards: int, delivery_limit: int = 5) -> None:
    """Exchanges and shared queues, declared once with an administrator's URL: service
    accounts may only declare their own per-process queues (CHAT_AMQP_DECLARE_TOPOLOGY)."""
    try:
        run_sync(lambda: _declare_topology(amqp_url, shards, delivery_limit))
    except Exception as exc:
        raise InfraError(f"could not declare the broker topology: {exc!r}") from exc
