"""Typed service settings read from `CHAT_*` environment variables."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chat_runtime.features import Features


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
    allowed_origins: Annotated[list[str], NoDecode] = ["http://localhost:8080"]
    trusted_proxies: Annotated[list[str], NoDecode] = ["127.0.0.1", "::1"]
    send_shards: int = 8
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    jwks_url: str = "http://127.0.0.1:8001/v1/auth/jwks"
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
        for name in self.secret_fields:
            value = getattr(self, name, None)
            default = fields[name].default if name in fields else None
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            if value is None or value == "" or value == default:
                weak.append(name)
        if weak:
            names = ", ".join(f"CHAT_{n.upper()}" for n in weak)
            raise ValueError(f"refusing to start in prod with empty or default secrets: {names}")
        return self

    @cached_property
    def feature_switches(self) -> Features:
        """The api-v1.1 features that are on here (`CHAT_FEATURES` and what is implemented)."""
        return Features.from_setting(self.features)

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"
