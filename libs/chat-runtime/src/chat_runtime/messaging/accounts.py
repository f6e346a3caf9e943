"""One broker account per service and what it may do (ADR 0015): the table, as RabbitMQ regexes.

`service_accounts.yaml` beside this module is the single source of what each service may do on
the bus: which queues it may declare (configure: only its own per-process queues; the shared
topology is declared once, by an administrator), which exchanges and queues it may write to
(publish, bind a queue of its own), which it may read (consume, bind from), and, on the topic
exchange `chat.events`, which routing keys it may publish (topic write) and bind (topic read).
Request/reply needs write on the default exchange (`amq.default`), which reaches any queue by
name: message-service therefore also checks the broker-validated AMQP `user_id` of every command
(`CHAT_COMMAND_SENDER`).

Pure: no I/O besides reading the table. Applied by `chat_devtools.accounts` (make run, the e2e
stack), `chat_runtime.provision` (compose) and the Kubernetes resources generated from it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from chat_contracts import names

__all__ = [
    "BrokerAccount",
    "askers",
    "broker_account",
    "broker_accounts",
    "database_role",
    "definitions",
    "gateway_user",
    "name_pattern",
    "password_hash",
]

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

    service: str  # the table's service name ("gateway")
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
def table() -> dict[str, Any]:
    """The table as written (service -> entry), for checks against the AsyncAPI document."""
    loaded: dict[str, Any] = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    return loaded


def broker_accounts(prefix: str = "") -> tuple[BrokerAccount, ...]:
    """Every service's account; `prefix` goes before each account name (tests)."""
    return tuple(
        _account(service, entry, prefix) for service, entry in table()["accounts"].items()
    )


def broker_account(service: str, prefix: str = "") -> BrokerAccount:
    for account in broker_accounts(prefix):
        if account.service == service:
            return account
    raise KeyError(f"no broker account for service {service!r}")


def gateway_user(prefix: str = "") -> str:
    """The account message-service accepts commands from (CHAT_COMMAND_SENDER)."""
    return broker_account("gateway", prefix).user


def askers(queue: str, prefix: str = "") -> tuple[str, ...]:
    """The accounts that send requests to `queue` (the table's `asks`): a responder that
    checks its askers answers these alone (message-service's CHAT_QUERY_SENDERS)."""
    return tuple(
        prefix + str(entry["user"])
        for entry in table()["accounts"].values()
        if queue in entry.get("asks", [])
    )


def database_role(database: str, prefix: str = "") -> str:
    """The role that owns `database` (chat_auth -> chat_auth_owner)."""
    return f"{prefix}{database}_owner"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def _user(name: str, password: str, tags: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "password_hash": password_hash(password),
        "hashing_algorithm": "rabbit_password_hashing_sha256",
        "tags": tags,
        "limits": {},
    }


def definitions(
    accounts: Sequence[BrokerAccount],
    vhost: str,
    passwords: Mapping[str, str],
    *,
    admin: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """RabbitMQ definitions (users, permissions, topic permissions) for `accounts`; with
    `admin` (user, password) also that administrator, with every permission in `vhost` (a
    definitions file loaded at boot then holds every account the broker has)."""
    users = [_user(a.user, passwords[a.user], []) for a in accounts]
    permissions = [
        {"user": a.user, "vhost": vhost, "configure": a.configure, "write": a.write, "read": a.read}
        for a in accounts
    ]
    if admin is not None:
        users.insert(0, _user(admin[0], admin[1], ["administrator"]))
        permissions.insert(
            0, {"user": admin[0], "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        )
    return {
        "users": users,
        "vhosts": [{"name": vhost}],
        "permissions": permissions,
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
