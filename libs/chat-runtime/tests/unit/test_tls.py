"""TLS settings (issue #20): CA bundles for the broker, the database and the JWKS fetch, the
contexts built from them, where the runtime applies them, and what prod refuses."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import trustme
from chat_runtime import db
from chat_runtime.messaging import Broker
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.tls import client_context, database_ssl_from_env, url_password_is_weak
from chat_runtime.tokens import TokenVerifier
from pydantic import ValidationError

pytestmark = pytest.mark.unit

HTTPS_JWKS = "https://auth-service:8001/v1/auth/jwks"


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def test_the_client_context_trusts_only_the_bundle_and_checks_names(ca_file: Path) -> None:
    context = client_context(ca_file)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    # Exactly the one CA of the bundle: not the system's store.
    assert len(context.get_ca_certs()) == 1


def test_a_client_certificate_is_loaded_when_given(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client = ca.issue_cert("message-service")
    client.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "client.pem"))
    client_context(tmp_path / "ca.pem", cert_file=tmp_path / "client.pem")
    with pytest.raises(ssl.SSLError):
        client_context(tmp_path / "ca.pem", cert_file=tmp_path / "ca.pem")  # no key


def test_a_missing_bundle_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        client_context(tmp_path / "nope.pem")


@pytest.mark.parametrize(
    ("url", "weak"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/", True),
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/chat_auth", True),
        ("postgresql+asyncpg://postgres:@127.0.0.1:5432/chat_auth", True),
        ("amqps://gateway:Zx9-long@rabbitmq:5671/", False),
        ("postgresql+asyncpg://chat_auth:p%40ss@postgres/chat_auth", False),
    ],
)
def test_weak_url_passwords(url: str, weak: bool) -> None:
    assert url_password_is_weak(url) is weak


def test_settings_without_bundles_change_nothing() -> None:
    s = BaseServiceSettings()
    assert s.amqp_ssl_context() is None
    assert s.database_ssl_context() is None
    assert s.jwks_verify() is True  # the system's CAs for an https:// URL


def test_settings_build_a_context_per_link(ca_file: Path) -> None:
    s = BaseServiceSettings(
        amqp_url="amqps://gateway:pw@rabbitmq:5671/",
        amqp_ca_file=ca_file,
        database_ca_file=ca_file,
        jwks_url=HTTPS_JWKS,
        jwks_ca_file=ca_file,
    )
    for context in (s.amqp_ssl_context(), s.database_ssl_context(), s.jwks_verify()):
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    monkeypatch.setenv("CHAT_AMQP_URL", "amqps://gateway:pw@rabbitmq:5671/")
    monkeypatch.setenv("CHAT_AMQP_CA_FILE", str(ca_file))
    monkeypatch.setenv("CHAT_DATABASE_CA_FILE", str(ca_file))
    s = BaseServiceSettings()
    assert s.amqp_ca_file == ca_file
    assert s.database_ca_file == ca_file
    assert isinstance(database_ssl_from_env(), ssl.SSLContext)
    monkeypatch.delenv("CHAT_DATABASE_CA_FILE")
    assert database_ssl_from_env() is None


def test_a_bundle_needs_the_tls_scheme(ca_file: Path) -> None:
    with pytest.raises(ValidationError, match="CHAT_AMQP_CA_FILE needs an amqps://"):
        BaseServiceSettings(amqp_ca_file=ca_file)
    with pytest.raises(ValidationError, match="CHAT_JWKS_CA_FILE needs an https://"):
        BaseServiceSettings(jwks_ca_file=ca_file)


def test_prod_refuses_a_plain_http_jwks_url_unless_allowed() -> None:
    with pytest.raises(ValidationError, match="plain-http CHAT_JWKS_URL"):
        BaseServiceSettings(env="prod")
    assert BaseServiceSettings(env="prod", jwks_allow_http=True).is_prod
    assert BaseServiceSettings(env="prod", jwks_url=HTTPS_JWKS).is_prod
    assert BaseServiceSettings().jwks_url.startswith("http://")  # dev (make run) stays plain


def test_the_engine_gets_the_context(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(db, "create_async_engine", lambda url, **kw: seen.update(kw))
    context = client_context(ca_file)
    db.create_engine("postgresql+asyncpg://u:p@h/d", ssl=context, connect_args={"x": 1})
    assert seen["connect_args"] == {"x": 1, "ssl": context}
    seen.clear()
    db.create_engine("postgresql+asyncpg://u:p@h/d")
    assert "connect_args" not in seen


async def test_ensure_database_connects_with_the_context(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path
) -> None:
    seen: dict[str, Any] = {}

    async def refuse(dsn: str, **kw: Any) -> None:
        seen.update(kw)
        raise ConnectionRefusedError

    monkeypatch.setattr(asyncpg, "connect", refuse)
    context = client_context(ca_file)
    with pytest.raises(ConnectionRefusedError):
        await db.ensure_database("postgresql+asyncpg://u:p@h/d", ssl=context)
    assert seen["ssl"] is context


def test_migrations_get_the_context(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    class Config:
        attributes: dict[str, Any] = {}

    monkeypatch.delenv("CHAT_DATABASE_CA_FILE", raising=False)
    assert db.migration_connect_args(Config()) == {}
    monkeypatch.setenv("CHAT_DATABASE_CA_FILE", str(ca_file))
    assert isinstance(db.migration_connect_args(Config())["ssl"], ssl.SSLContext)
    given = client_context(ca_file)
    Config.attributes = {"database_ssl": given}
    assert db.migration_connect_args(Config()) == {"ssl": given}


async def test_the_broker_connects_with_the_context(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path
) -> None:
    import aio_pika

    seen: dict[str, Any] = {}

    async def refuse(url: str, **kw: Any) -> None:
        seen.update(kw, url=url)
        raise RuntimeError("stop here")

    monkeypatch.setattr(aio_pika, "connect_robust", refuse)
    context = client_context(ca_file)
    broker = Broker("amqps://gateway:pw@rabbitmq:5671/", service="gw", ssl_context=context)
    with pytest.raises(RuntimeError, match="stop here"):
        await broker.connect(retry_for_s=0)
    assert seen["ssl_context"] is context
    assert seen["url"].startswith("amqps://")


async def test_the_jwks_client_verifies_with_the_context(ca_file: Path) -> None:
    context = client_context(ca_file)
    verifier = TokenVerifier(HTTPS_JWKS, verify=context)
    assert verifier.tls_verify is context
    await verifier.aclose()
