"""Typed service settings read from `CHAT_*` environment variables."""

from __future__ import annotations

import ssl
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chat_runtime.features import Features
from chat_runtime.tls import client_context, url_password_is_weak


def _split_csv(value: Any) -> Any:
    # Environment values are plain comma lists, not JSON arrays.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHAT_", extra="ignore")

    # Names of fields that must be set to a non-default, non-empty value when env=prod.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    service_name: str = "chat"
    version: str = "0.0.0"
    env: Literal["dev", "prod"] = "dev"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # False where each service has its own broker account (ADR 0015): the shared topology is
    # declared once by an administrator (make run's prepare, compose's definitions, k8s), and
    # a service account may only declare its own per-process queues.
    amqp_declare_topology: bool = True
    allowed_origins: Annotated[list[str], NoDecode] = ["http://localhost:8080"]
    trusted_proxies: Annotated[list[str], NoDecode] = ["127.0.0.1", "::1"]
    send_shards: int = 8
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    jwks_url: str = "http://127.0.0.1:8001/v1/auth/jwks"
    # TLS (chat_runtime.tls): a CA bundle (PEM) per link; set, the link is encrypted and the
    # server's certificate must come from that CA and name the URL's host. amqp_ca_file needs an
    # amqps:// CHAT_AMQP_URL and jwks_ca_file an https:// CHAT_JWKS_URL.
    amqp_ca_file: Path | None = None
    database_ca_file: Path | None = None
    jwks_ca_file: Path | None = None
    # prod refuses a plain-http CHAT_JWKS_URL (whoever can change the keys in flight can sign
    # any token) unless this says the link is protected otherwise (a loopback or a mesh).
    jwks_allow_http: bool = False
    # A second listener of the same app over TLS (auth-service's JWKS for the other services;
    # the edge and the probes keep CHAT_PORT): port, certificate chain and key (PEM).
    tls_port: int | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # api-v1.1 feature switches, a comma list read by every service alike: unset means every
    # feature this release implements, empty means none (chat_runtime.features).
    features: str | None = None

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("send_shards")
    @classmethod
    def _positive_shards(cls, value: int) -> int:
        if value < 1:
            raise ValueError("send_shards must be at least 1")
        return value

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> BaseServiceSettings:
        if self.env != "prod":
            return self
        weak: list[str] = []
        fields = type(self).model_fields
        for name in self.required_secrets():
            value = getattr(self, name, None)
            default = fields[name].default if name in fields else None
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            if value is None or value == "" or value == default:
                weak.append(name)
            elif name.endswith("_url") and url_password_is_weak(str(value)):
                # A connection URL without a password, or with the broker's guest one.
                weak.append(name)
        if weak:
            names = ", ".join(f"CHAT_{n.upper()}" for n in weak)
            raise ValueError(f"refusing to start in prod with empty or default secrets: {names}")
        return self

    def required_secrets(self) -> tuple[str, ...]:
        """The settings refused in prod when empty or default (`secret_fields`; a service may
        add ones that depend on other settings, e.g. S3 keys only with S3 storage)."""
        return self.secret_fields

    @model_validator(mode="after")
    def _tls_matches_the_urls(self) -> BaseServiceSettings:
        if self.amqp_ca_file is not None and not self.amqp_url.startswith("amqps://"):
            raise ValueError("CHAT_AMQP_CA_FILE needs an amqps:// CHAT_AMQP_URL")
        if self.tls_port is not None and (self.tls_cert_file is None or self.tls_key_file is None):
            raise ValueError("CHAT_TLS_PORT needs CHAT_TLS_CERT_FILE and CHAT_TLS_KEY_FILE")
        if self.jwks_ca_file is not None and not self.jwks_url.startswith("https://"):
            raise ValueError("CHAT_JWKS_CA_FILE needs an https:// CHAT_JWKS_URL")
        if self.is_prod and not self.jwks_url.startswith("https://") and not self.jwks_allow_http:
            raise ValueError(
                "refusing to start in prod with a plain-http CHAT_JWKS_URL "
                "(use https:// with CHAT_JWKS_CA_FILE, or set CHAT_JWKS_ALLOW_HTTP=true)"
            )
        return self

    def amqp_ssl_context(self) -> ssl.SSLContext | None:
        """The broker's TLS context (None: the URL decides, plain for amqp://)."""
        return client_context(self.amqp_ca_file) if self.amqp_ca_file is not None else None

    def database_ssl_context(self) -> ssl.SSLContext | None:
        """The database's TLS context (None: a plain connection unless the URL asks for one)."""
        if self.database_ca_file is None:
            return None
        return client_context(self.database_ca_file)

    def jwks_verify(self) -> ssl.SSLContext | bool:
        """What the JWKS fetch verifies the server with: the CA bundle's context, else the
        system's CAs (True)."""
        return client_context(self.jwks_ca_file) if self.jwks_ca_file is not None else True

    @cached_property
    def feature_switches(self) -> Features:
        """The api-v1.1 features that are on here (`CHAT_FEATURES` and what is implemented)."""
        return Features.from_setting(self.features)

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"
