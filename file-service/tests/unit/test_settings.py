"""Settings: the link key is a secret, s3 needs a bucket, the access cache stays ≤ 1 s."""

from __future__ import annotations

import pytest
from file_service.settings import FileSettings
from pydantic import SecretStr, ValidationError

pytestmark = pytest.mark.unit


def test_defaults() -> None:
    settings = FileSettings()
    assert settings.port == 8005
    assert settings.database_url.endswith("/chat_files")
    assert settings.file_max_bytes == 26_214_400
    assert settings.spool_dir == settings.file_dir / ".spool"


def test_default_link_key_refused_in_prod() -> None:
    with pytest.raises(ValidationError, match="CHAT_FILE_LINK_KEY"):
        FileSettings(env="prod")
    FileSettings(
        env="prod",
        file_link_key=SecretStr("a-real-secret-of-some-length"),
        # the other secrets (test_prod_secrets.py) and an https JWKS URL
        amqp_url="amqp://file:a-real-password@rabbitmq:5672/",
        database_url="postgresql+asyncpg://file:a-real-password@postgres/chat_files",
        jwks_url="https://auth-service:8001/v1/auth/jwks",
    )


def test_s3_needs_a_bucket() -> None:
    with pytest.raises(ValidationError):
        FileSettings(file_storage="s3")


def test_access_cache_at_most_one_second() -> None:
    with pytest.raises(ValidationError):
        FileSettings(file_access_cache_s=1.5)
