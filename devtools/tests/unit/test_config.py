from __future__ import annotations

from pathlib import Path

import pytest
from chat_devtools.config import (
    ConfigError,
    StackConfig,
    config_from_env,
    database_url,
    default_services,
)
from chat_devtools.nginx import local_values, server_lines

pytestmark = pytest.mark.unit
ROOT = Path("/repo")


def test_replicas_get_distinct_names_and_ports() -> None:
    config = StackConfig(root=ROOT, services=default_services(gateway=(8002, 28012, 28022)))
    names = [(name, port) for name, _, port in config.replicas()]
    assert names == [
        ("auth", 8001),
        ("gateway", 8002),
        ("gateway-2", 28012),
        ("gateway-3", 28022),
        ("message", 8003),
        ("presence", 8004),
        ("file", 8005),
    ]


def test_a_port_used_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="8003"):
        StackConfig(root=ROOT, services=default_services(gateway=(8002, 8003)))


def test_the_edge_port_counts_as_used() -> None:
    with pytest.raises(ConfigError, match="8001"):
        StackConfig(root=ROOT, edge_port=8001)


def test_service_env_carries_the_public_contract_settings() -> None:
    config = StackConfig(
        root=ROOT,
        services=default_services(auth=(28001,)),
        amqp_url="amqp://guest:guest@127.0.0.1:5999/",
        env={"CHAT_SEND_SHARDS": "4"},
    )
    message = config.service("message")
    env = config.service_env(message, 8003)
    assert env["CHAT_PORT"] == "8003"
    assert env["CHAT_HOST"] == "127.0.0.1"
    assert env["CHAT_AMQP_URL"] == "amqp://guest:guest@127.0.0.1:5999/"
    assert env["CHAT_DATABASE_URL"] == "postgresql+asyncpg://postgres@127.0.0.1:5432/chat_messages"
    assert env["CHAT_JWKS_URL"] == "http://127.0.0.1:28001/v1/auth/jwks"
    assert env["CHAT_ALLOWED_ORIGINS"].split(",")[0] == "http://localhost:8080"
    assert env["CHAT_SEND_SHARDS"] == "4"
    assert "CHAT_AUTH_KEYS_DIR" not in env


def test_gateway_has_no_database_and_auth_has_a_keys_dir() -> None:
    config = StackConfig(root=ROOT)
    assert "CHAT_DATABASE_URL" not in config.service_env(config.service("gateway"), 8002)
    auth_env = config.service_env(config.service("auth"), 8001)
    assert auth_env["CHAT_AUTH_KEYS_DIR"] == "/repo/var/keys"


def test_database_url_override_wins() -> None:
    config = StackConfig(
        root=ROOT, database_urls={"chat_presence": "postgresql+asyncpg://postgres@127.0.0.1:6000/p"}
    )
    assert config.database_url_for(config.service("presence")).endswith(":6000/p")  # type: ignore[union-attr]
    assert config.database_url_for(config.service("gateway")) is None


def test_database_url_replaces_only_the_path() -> None:
    assert (
        database_url("postgresql+asyncpg://postgres@db:5433/postgres?ssl=off", "chat_auth")
        == "postgresql+asyncpg://postgres@db:5433/chat_auth?ssl=off"
    )


def test_config_from_env_adds_gateways_in_the_private_range() -> None:
    config = config_from_env(ROOT, {"CHAT_STACK_GATEWAYS": "2"})
    assert config.service("gateway").ports == (8002, 28012)
    assert config.service("message").ports == (8003,)
    assert config.edge_url == "http://localhost:8080"
    assert config.logs == Path("/repo/var/log")


def test_config_from_env_adds_message_services_behind_the_edge(tmp_path: Path) -> None:
    config = config_from_env(ROOT, {"CHAT_STACK_MESSAGE_SERVICES": "3"})
    assert config.service("message").ports == (8003, 28013, 28023)
    assert [(n, p) for n, s, p in config.replicas() if s.name == "message"] == [
        ("message", 8003),
        ("message-2", 28013),
        ("message-3", 28023),
    ]
    # Every replica of one service shares its database; the edge sends REST to all of them.
    urls = {
        config.service_env(s, p)["CHAT_DATABASE_URL"]
        for _, s, p in config.replicas()
        if s.name == "message"
    }
    assert len(urls) == 1
    values = local_values(config, tmp_path)
    assert values["EDGE_MESSAGE_SERVERS"] == server_lines("127.0.0.1", (8003, 28013, 28023))


def test_config_from_env_refuses_zero_replicas() -> None:
    with pytest.raises(ConfigError, match="CHAT_STACK_MESSAGE_SERVICES"):
        config_from_env(ROOT, {"CHAT_STACK_MESSAGE_SERVICES": "0"})
