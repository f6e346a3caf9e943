"""chat_devtools.accounts and the stack's per-service accounts (ADR 0015), without servers."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from chat_contracts import names
from chat_devtools import accounts
from chat_devtools.config import config_from_env, find_repo_root
from chat_runtime.messaging.accounts import askers, password_hash

ROOM = "room.9a0fc28d-fd6a-4003-a8a9-a72a178a9062"
USER = "user.2ab25900-4d54-4195-8076-4b370ba7a26b"


def _matches(pattern: str, value: str) -> bool:
    # RabbitMQ matches permissions with an unanchored PCRE search; ours carry ^...$ anyway.
    return re.search(pattern, value) is not None


def test_make_run_gives_each_service_its_own_accounts(tmp_path: Path) -> None:
    config = config_from_env(tmp_path, environ={})
    assert config.own_accounts
    envs = {s.name: config.service_env(s, s.ports[0]) for s in config.services}
    amqp = {name: env["CHAT_AMQP_URL"] for name, env in envs.items()}
    assert len(set(amqp.values())) == len(amqp)
    assert amqp["gateway"] == "amqp://gateway-service:dev-gateway-service@127.0.0.1:5672/"
    assert envs["auth"]["CHAT_DATABASE_URL"] == (
        "postgresql+asyncpg://chat_auth_owner:dev-chat_auth_owner@127.0.0.1:5432/chat_auth"
    )
    assert "CHAT_DATABASE_URL" not in envs["gateway"]
    assert all(env["CHAT_AMQP_DECLARE_TOPOLOGY"] == "false" for env in envs.values())
    assert envs["message"]["CHAT_COMMAND_SENDER"] == "gateway-service"
    assert envs["message"]["CHAT_QUERY_SENDERS"] == "gateway-service,file-service"


def test_admin_accounts_when_switched_off_or_on_temporary_databases(tmp_path: Path) -> None:
    off = config_from_env(tmp_path, environ={"CHAT_STACK_SERVICE_ACCOUNTS": "0"})
    own = replace(
        config_from_env(tmp_path, environ={}),
        database_urls={"chat_auth": "postgresql+asyncpg://postgres@127.0.0.1/test_x"},
    )
    for config in (off, own):
        assert not config.own_accounts
        env = config.service_env(config.service("message"), 8003)
        assert env["CHAT_AMQP_URL"] == config.amqp_url
        assert "CHAT_COMMAND_SENDER" not in env
        assert "CHAT_AMQP_DECLARE_TOPOLOGY" not in env


def test_a_vhost_and_query_survive_the_credentials() -> None:
    url = accounts.with_credentials(
        "amqp://guest:guest@127.0.0.1:5672/acct_1?heartbeat=5", "a", "p/w"
    )
    assert url == "amqp://a:p%2Fw@127.0.0.1:5672/acct_1?heartbeat=5"
    assert accounts.vhost_of(url) == "acct_1"
    assert accounts.vhost_of("amqp://guest:guest@127.0.0.1:5672/") == "/"


def test_the_password_hash_is_rabbitmqs_sha256() -> None:
    encoded = password_hash("secret", salt=b"\x01\x02\x03\x04")
    raw = base64.b64decode(encoded)
    assert raw[:4] == b"\x01\x02\x03\x04"
    assert raw[4:] == hashlib.sha256(b"\x01\x02\x03\x04secret").digest()


@pytest.mark.parametrize(
    ("service", "allowed", "refused"),
    [
        (
            "gateway",
            [f"{ROOM}.typing.v1", names.PRESENCE_GATEWAY_HEARTBEAT_V1],
            [f"{ROOM}.message.created.v1", names.PRESENCE_CHANGED_V1],
        ),
        (
            "message",
            [f"{ROOM}.message.created.v1", f"{USER}.room.joined.v1", f"{ROOM}.read.v1"],
            [f"{ROOM}.typing.v1", names.AUTH_SESSION_REVOKED_V1],
        ),
        (
            "presence",
            [names.PRESENCE_CHANGED_V1],
            [f"{ROOM}.message.created.v1", names.PRESENCE_CONNECTION_OPENED_V1],
        ),
        (
            "auth",
            [names.AUTH_SESSION_REVOKED_V1, names.AUTH_USER_UPDATED_V1],
            [names.FILE_UPLOADED_V1, f"{USER}.room.left.v1"],
        ),
        ("file", [names.FILE_UPLOADED_V1], [names.AUTH_USER_UPDATED_V1]),
    ],
)
def test_event_keys_each_service_may_publish(
    service: str, allowed: list[str], refused: list[str]
) -> None:
    account = accounts.broker_account(service)
    for key in allowed:
        assert _matches(account.topic_write, key), key
    for key in refused:
        assert not _matches(account.topic_write, key), key


def test_only_the_gateway_binds_rooms_and_users() -> None:
    for account in accounts.broker_accounts():
        binds_rooms = _matches(account.topic_read, "room.#") or _matches(
            account.topic_read, f"{ROOM}.#"
        )
        assert binds_rooms == (account.service == "gateway"), account.service
        # Not even the gateway may bind every room at once.
        assert not _matches(account.topic_read, "room.#")
        assert not _matches(account.topic_read, "room.*.#")


def test_configure_covers_only_per_process_queues() -> None:
    shared = [
        names.EXCHANGE_COMMANDS,
        names.EXCHANGE_EVENTS,
        names.send_queue(0),
        names.MESSAGE_QUERY_QUEUE,
        names.AUTH_QUERY_QUEUE,
        names.MESSAGE_EVENTS_QUEUE,
    ]
    for account in accounts.broker_accounts():
        for name in shared:
            assert not _matches(account.configure, name), (account.service, name)
    assert _matches(accounts.broker_account("gateway").configure, names.gateway_queue("g1"))
    assert not _matches(accounts.broker_account("presence").configure, names.gateway_queue("g1"))


def test_only_message_service_consumes_commands() -> None:
    readers = [
        a.service for a in accounts.broker_accounts() if _matches(a.read, "message-service.send.3")
    ]
    assert readers == ["message"]
    writers = [a.service for a in accounts.broker_accounts() if _matches(a.write, "chat.commands")]
    assert writers == ["gateway"]


def _asyncapi_operations() -> list[tuple[str, str, str, list[str]]]:
    """(action, exchange or "", address with sample ids, services) of every bus operation."""
    spec = yaml.safe_load((find_repo_root() / "contracts" / "asyncapi.yaml").read_text())
    samples = {"{room_id}": ROOM[5:], "{user_id}": USER[5:], "{shard}": "3"}
    out = []
    for op in spec["operations"].values():
        channel = spec["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]
        amqp = channel.get("bindings", {}).get("amqp", {})
        exchange = amqp["exchange"]["name"] if amqp.get("is") == "routingKey" else ""
        address = channel["address"]
        for hole, value in samples.items():
            address = address.replace(hole, value)
        services = [SERVICE_OF.get(s, s) for s in op.get("x-producers", op.get("x-consumers", []))]
        out.append((op["action"], exchange, address, services))
    return out


SERVICE_OF = {f"{a.service}-service": a.service for a in accounts.broker_accounts()}


def test_every_publishing_operation_of_the_contract_is_its_producers_alone() -> None:
    checked = 0
    for action, exchange, address, producers in _asyncapi_operations():
        if action != "send" or not exchange:
            continue
        for account in accounts.broker_accounts():
            if exchange == names.EXCHANGE_EVENTS:
                may_write = _matches(account.topic_write, address)
            else:
                may_write = re.search(account.write, exchange) is not None
            assert may_write == (account.service in producers), (account.service, address)
            checked += 1
    assert checked >= 5 * 15


def test_every_consuming_operation_of_the_contract_is_allowed() -> None:
    for action, exchange, address, consumers in _asyncapi_operations():
        if action != "receive" or exchange:
            continue
        for service in consumers:
            assert _matches(accounts.broker_account(service).read, address), (service, address)


def test_who_asks_message_service_is_who_the_contract_says() -> None:
    # message-service answers its query queue only for these accounts (CHAT_QUERY_SENDERS).
    asked = [
        (address, producers)
        for action, exchange, address, producers in _asyncapi_operations()
        if action == "send" and not exchange and address == names.MESSAGE_QUERY_QUEUE
    ]
    assert len(asked) == 2  # membership (gateway) and file access (file-service)
    contract = {p for _, producers in asked for p in producers}
    table = {
        a.service for a in accounts.broker_accounts() if a.user in askers(names.MESSAGE_QUERY_QUEUE)
    }
    assert table == contract == {"gateway", "file"}
