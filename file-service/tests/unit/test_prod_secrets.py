"""Prod refuses file-service's default secrets in one line naming each variable (#20)."""

from __future__ import annotations

import pytest
from chat_runtime.testing import ProdSecrets
from file_service.settings import FileSettings

pytestmark = pytest.mark.unit

# Real-looking values for every secret: prod builds its settings with these.
CHECK = ProdSecrets(
    FileSettings,
    {
        "CHAT_AMQP_URL": "amqp://file:pw-amqp-real@rabbitmq:5672/",
        "CHAT_DATABASE_URL": "postgresql+asyncpg://file:pw-db-real@postgres:5432/chat_file",
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


def test_prod_with_s3_keys_refuses_an_empty_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = {"CHAT_FILE_STORAGE": "s3", "CHAT_S3_BUCKET": "chat-files"}
    CHECK.prod(monkeypatch, **CHECK.real, **s3, CHAT_S3_ACCESS_KEY_ID="AKIAEXAMPLE")
    monkeypatch.delenv("CHAT_S3_SECRET_ACCESS_KEY", raising=False)
    assert "CHAT_S3_SECRET_ACCESS_KEY" in CHECK.refusal()
    monkeypatch.setenv("CHAT_S3_SECRET_ACCESS_KEY", "")
    assert "CHAT_S3_SECRET_ACCESS_KEY" in CHECK.refusal()
    monkeypatch.setenv("CHAT_S3_SECRET_ACCESS_KEY", "a-real-s3-secret")
    assert FileSettings().s3_secret_access_key is not None
    # Without keys the SDK's own credentials (an instance or pod role) are used: nothing to refuse.
    CHECK.prod(monkeypatch, **CHECK.real, **s3)
    monkeypatch.delenv("CHAT_S3_SECRET_ACCESS_KEY", raising=False)
    assert FileSettings().s3_access_key_id is None
