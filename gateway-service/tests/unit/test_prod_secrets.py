"""Prod refuses gateway-service's default secrets in one line naming each variable (#20)."""

from __future__ import annotations

import pytest
from chat_runtime.testing import ProdSecrets
from gateway_service.settings import GatewaySettings

pytestmark = pytest.mark.unit

# Real-looking values for every secret: prod builds its settings with these.
CHECK = ProdSecrets(
    GatewaySettings,
    {
        "CHAT_AMQP_URL": "amqp://gateway:pw-amqp-real@rabbitmq:5672/",
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
