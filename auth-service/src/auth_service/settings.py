"""auth-service settings: `CHAT_*` from the environment (api-v1 §1, §3)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from chat_runtime.http import rate_limit
from chat_runtime.http.rate_limit import RateSetting
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.tokens import REVOCATION_WINDOW_S
from pydantic import AliasChoices, Field, model_validator

from auth_service import __version__


def _env(name: str, field: str) -> AliasChoices:
    # Explicit env names keep the documented CHAT_AUTH_* spelling while code uses short names.
    return AliasChoices(name, field)


class AuthSettings(BaseServiceSettings):
    # Refused in prod when empty, left at the default, or a URL without a real password.
    secret_fields: ClassVar[tuple[str, ...]] = ("amqp_url", "database_url")

    service_name: str = "auth-service"
    version: str = __version__
    port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/chat_auth"
    migrate_on_start: bool = True
    # Where alembic.ini is when the package is not run from the source tree (an image).
    alembic_ini: Path | None = Field(
        None, validation_alias=_env("CHAT_AUTH_ALEMBIC_INI", "alembic_ini")
    )

    keys_dir: Path = Field(
        Path("var/auth-keys"), validation_alias=_env("CHAT_AUTH_KEYS_DIR", "keys_dir")
    )
    # The key directory is a read-only mount (a Kubernetes Secret): never create keys there,
    # refuse to start without them; rotation updates the Secret (`rotate-keys --secret`).
    keys_read_only: bool = Field(
        False, validation_alias=_env("CHAT_AUTH_KEYS_READ_ONLY", "keys_read_only")
    )

    # Throttles (api-v1 §3): failures per 15-minute window.
    login_pair_limit: int = Field(
        5, ge=1, validation_alias=_env("CHAT_AUTH_LOGIN_PAIR_LIMIT", "login_pair_limit")
    )
    login_username_limit: int = Field(
        20, ge=1, validation_alias=_env("CHAT_AUTH_LOGIN_USERNAME_LIMIT", "login_username_limit")
    )
    login_address_limit: int = Field(
        100, ge=1, validation_alias=_env("CHAT_AUTH_LOGIN_ADDRESS_LIMIT", "login_address_limit")
    )
    # Generous on purpose: one office behind a NAT signs up together, and each registration costs
    # only one hash; the limit exists to stop hash-flooding, not sign-ups.
    register_address_limit: int = Field(
        1000,
        ge=1,
        validation_alias=_env("CHAT_AUTH_REGISTER_ADDRESS_LIMIT", "register_address_limit"),
    )
    throttle_window_s: int = Field(
        900, ge=1, validation_alias=_env("CHAT_AUTH_THROTTLE_WINDOW_S", "throttle_window_s")
    )
    throttle_base_delay_s: float = Field(
        5.0, gt=0, validation_alias=_env("CHAT_AUTH_THROTTLE_BASE_DELAY_S", "throttle_base_delay_s")
    )
    throttle_max_delay_s: float = Field(
        900.0, gt=0, validation_alias=_env("CHAT_AUTH_THROTTLE_MAX_DELAY_S", "throttle_max_delay_s")
    )

    # argon2id; OWASP's minimum is m=19 MiB, t=2, p=1.
    argon2_memory_cost_kib: int = Field(
        19456,
        ge=19456,
        validation_alias=_env("CHAT_AUTH_ARGON2_MEMORY_KIB", "argon2_memory_cost_kib"),
    )
    argon2_time_cost: int = Field(
        2, ge=2, validation_alias=_env("CHAT_AUTH_ARGON2_TIME_COST", "argon2_time_cost")
    )
    argon2_parallelism: int = Field(
        1, ge=1, validation_alias=_env("CHAT_AUTH_ARGON2_PARALLELISM", "argon2_parallelism")
    )
    # Concurrent hashes: each holds memory_cost KiB, and more threads than cores only queue.
    hash_concurrency: int = Field(
        4, ge=1, validation_alias=_env("CHAT_AUTH_HASH_CONCURRENCY", "hash_concurrency")
    )

    # None = derived from env: Secure everywhere except dev (plain http://localhost).
    cookie_secure: bool | None = Field(
        None, validation_alias=_env("CHAT_AUTH_COOKIE_SECURE", "cookie_secure")
    )
    access_ttl_s: int = Field(900, ge=60, le=900)
    refresh_lifetime_s: int = Field(30 * 24 * 3600, ge=60)
    refresh_grace_s: int = Field(30, ge=0, le=300)
    # The known-device cookie `chat_device` (api-v1.1 F): one year, renewed by every sign-in.
    device_lifetime_s: int = Field(365 * 24 * 3600, ge=60)
    # A refresh token unused this long is refused (api-v1.1 C amends v1 §3).
    refresh_idle_s: int = Field(
        14 * 24 * 3600, ge=60, validation_alias=_env("CHAT_AUTH_REFRESH_IDLE_S", "refresh_idle_s")
    )
    # api-v1.1 C: open | invite | closed; None = open in dev, invite in prod.
    registration: Literal["open", "invite", "closed"] | None = Field(
        None, validation_alias=_env("CHAT_REGISTRATION", "registration")
    )
    # Where people open the client: the base of invitation and password-reset links (None:
    # the first of CHAT_ALLOWED_ORIGINS).
    public_url: str | None = Field(
        None, validation_alias=_env("CHAT_AUTH_PUBLIC_URL", "public_url")
    )
    invite_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    # Per-user limits of POST /v1/invites and of people search (GET /v1/users?q=) on this
    # replica (chat_runtime.http.rate_limit, `<count>/<period>[:<burst>]` or `off`): 429
    # `rate_limited` with Retry-After beyond them.
    rate_invite_create: RateSetting = rate_limit.DEFAULT_RATES[rate_limit.INVITE_CREATE]
    rate_people_search: RateSetting = rate_limit.DEFAULT_RATES[rate_limit.PEOPLE_SEARCH]
    reset_ttl_s: int = Field(3600, ge=60)
    # What verifiers are told at start and after a reconnect: as long as they keep an entry
    # (an access token's lifetime plus their verification leeway).
    revocation_window_s: int = int(REVOCATION_WINDOW_S)

    @model_validator(mode="after")
    def _secure_cookies_outside_dev(self) -> AuthSettings:
        if self.cookie_secure is None:
            self.cookie_secure = self.env != "dev"
        if self.env == "prod" and not self.cookie_secure:
            raise ValueError(
                "refusing to start in prod with insecure cookies (CHAT_AUTH_COOKIE_SECURE)"
            )
        return self

    @property
    def registration_mode(self) -> Literal["open", "invite", "closed"]:
        if self.registration is not None:
            return self.registration
        return "invite" if self.env == "prod" else "open"

    @property
    def client_url(self) -> str:
        """The client's origin, without a trailing slash (links put `/#/...` after it)."""
        base = self.public_url or (self.allowed_origins[0] if self.allowed_origins else "")
        return base.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return bool(self.cookie_secure)

    def alembic_config(self) -> Path:
        """`alembic_ini`, else the source tree's (editable install), else an image's copy of
        the service directory."""
        if self.alembic_ini is not None:
            return self.alembic_ini
        candidates = (
            Path(__file__).resolve().parents[2] / "alembic.ini",
            Path.cwd() / "auth-service" / "alembic.ini",
            Path.cwd() / "alembic.ini",
        )
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise RuntimeError("alembic.ini of auth-service not found; set CHAT_AUTH_ALEMBIC_INI")
