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
