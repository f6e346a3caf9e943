"""Prod refuses message-service's default secrets in one line naming each variable (#20)."""

from __future__ import annotations

import pytest
from chat_runtime.testing import ProdSecrets
from message_service.settings import MessageSettings

pytestmark = pytest.mark.unit

# Real-looking values for every secret: prod builds its settings with these.
CHECK = ProdSecrets(
    MessageSettings,
    {
        "CHAT_AMQP_URL": "amqp://message:pw-amqp-real@rabbitmq:5672/",
        "CHAT_DATABASE_URL": "postgresql+asyncpg://message:pw-db-real@postgres:5432/chat_message",
        "CHAT_FILE_LINK_KEY": "a-long-random-link-key-from-the-env-file",
    },
)


@pytest.fixture(autouse=True)
def _gateway_account(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not a secret, but required in prod (below); set so the secrets' checks see only theirs.
    monkeypatch.setenv("CHAT_COMMAND_SENDER", "gateway-service")
    monkeypatch.setenv("CHAT_QUERY_SENDERS", "gateway-service,file-service")


def test_prod_with_the_defaults_refuses_naming_every_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    CHECK.check_defaults_refused(monkeypatch)


@pytest.mark.parametrize("name", CHECK.secrets)
def test_prod_refuses_each_secret_left_empty_or_weak(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    CHECK.check_each_weak_value_refused(monkeypatch, name)


def test_prod_with_real_values_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    CHECK.check_real_values_build(monkeypatch)


def test_prod_refuses_to_take_commands_from_any_account(monkeypatch: pytest.MonkeyPatch) -> None:
    # ADR 0015: without the check a foothold in any service could send as any user.
    for empty in ("", "  "):
        monkeypatch.setenv("CHAT_COMMAND_SENDER", empty)
        CHECK.prod(monkeypatch, **CHECK.real)
        assert "CHAT_COMMAND_SENDER" in CHECK.refusal()
    monkeypatch.setenv("CHAT_ENV", "dev")
    monkeypatch.setenv("CHAT_COMMAND_SENDER", "")
    assert MessageSettings().command_sender == ""  # a stack with one shared account


def test_prod_refuses_to_answer_any_accounts_queries(monkeypatch: pytest.MonkeyPatch) -> None:
    # T76: any account could otherwise ask which rooms anyone is in.
    for empty in ("", " , "):
        monkeypatch.setenv("CHAT_QUERY_SENDERS", empty)
        CHECK.prod(monkeypatch, **CHECK.real)
        assert "CHAT_QUERY_SENDERS" in CHECK.refusal()
    monkeypatch.setenv("CHAT_QUERY_SENDERS", " gateway-service, file-service ")
    settings = CHECK.check_real_values_build(monkeypatch)
    assert isinstance(settings, MessageSettings)
    assert settings.query_sender_accounts() == {"gateway-service", "file-service"}
