"""Typed settings of file-service (environment variables `CHAT_*`)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from chat_runtime.http import rate_limit
from chat_runtime.http.rate_limit import RateSetting
from chat_runtime.settings import BaseServiceSettings
from pydantic import Field, SecretStr, model_validator

from file_service import __version__

# The source checkout's (an editable install runs from it): file-service/alembic.ini and the
# repository root whose var/files is the default store (devtools' backups look there too).
SERVICE_DIR = Path(__file__).resolve().parents[2]
ALEMBIC_INI = SERVICE_DIR / "alembic.ini"
DEV_LINK_KEY = "dev-only-file-link-key-change-me"


def default_file_dir() -> Path:
    """`<repo>/var/files` when run from a source checkout, else `var/files` (relative to the
    working directory, as auth-service's `var/auth-keys`)."""
    repo = SERVICE_DIR.parent
    if (repo / "pyproject.toml").is_file() and (repo / "file-service").is_dir():
        return repo / "var" / "files"
    return Path("var/files")


class FileSettings(BaseServiceSettings):
    # Refused when empty, left at the default, or a URL without a real password in prod
    # (BaseServiceSettings); the S3 secret too when S3 keys are used (required_secrets).
    secret_fields: ClassVar[tuple[str, ...]] = ("amqp_url", "database_url", "file_link_key")

    service_name: str = "file-service"
    version: str = __version__
    port: int = 8005
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/chat_files"

    # api-v1.1 E: uploads larger than this are refused with 413 `file_too_large`.
    file_max_bytes: int = Field(default=26_214_400, ge=1)
    # Pillow's decompression-bomb limit (pixels); larger images are refused with 422.
    file_max_image_pixels: int = Field(default=50_000_000, ge=1)
    # Images decoded at once (each can take width*height*4 bytes of memory while it is).
    file_image_concurrency: int = Field(default=2, ge=1)
    file_storage: Literal["local", "s3"] = "local"
    # The local store's root (keys `<id>`, `<id>.thumb`); also the spool's parent by default.
    file_dir: Path = Field(default_factory=default_file_dir)
    # Uploads stream here before they are checked and stored (always local, even with s3).
    file_spool_dir: Path | None = None
    # Spool files older than this are removed at start (left by a process killed mid-upload).
    file_spool_max_age_s: float = Field(default=3600.0, gt=0)

    s3_endpoint: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    # Signed links (DESIGN §3): the same key in file-service and message-service.
    file_link_key: SecretStr = SecretStr(DEV_LINK_KEY)
    file_link_max_age_s: int = Field(default=600, ge=1)
    # Per-user limit of uploads on this replica (chat_runtime.http.rate_limit,
    # `<count>/<period>[:<burst>]` or `off`): 429 `rate_limited` with Retry-After beyond it.
    rate_file_upload: RateSetting = rate_limit.DEFAULT_RATES[rate_limit.FILE_UPLOAD]
    # "May this user read this attachment?" answers of message-service are reused this long
    # (api-v1.1 E: access ends within 1 s of a delete or a removal).
    file_access_cache_s: float = Field(default=1.0, ge=0, le=1)
    file_access_timeout_s: float = Field(default=3.0, gt=0, le=30)
    # Orphans (DESIGN §6): attachments never attached, avatars not in use, after this long.
    file_orphan_after_s: float = Field(default=86_400.0, gt=0)
    file_sweep_interval_s: float = Field(default=600.0, gt=0)
    file_sweep_batch: int = Field(default=200, ge=1, le=10_000)
    # How often a replica lists the whole store for bytes without a row (and once at start):
    # a full listing, so far rarer than the orphan rounds.
    file_stray_scan_interval_s: float = Field(default=86_400.0, gt=0)

    # Create the database and migrate at start (an advisory lock serialises replicas).
    run_migrations: bool = True
    # Where alembic.ini lives when the package is not run from a source checkout (images).
    alembic_ini: str | None = None

    @model_validator(mode="after")
    def _s3_complete(self) -> FileSettings:
        if self.file_storage == "s3" and not self.s3_bucket:
            raise ValueError("CHAT_FILE_STORAGE=s3 needs CHAT_S3_BUCKET")
        return self

    def required_secrets(self) -> tuple[str, ...]:
        # S3 without keys uses the SDK's own credentials (an instance or pod role): nothing to
        # refuse then; with an access key id its secret must be real.
        if self.file_storage == "s3" and self.s3_access_key_id:
            return (*self.secret_fields, "s3_secret_access_key")
        return self.secret_fields

    @property
    def spool_dir(self) -> Path:
        return self.file_spool_dir or self.file_dir / ".spool"

    @property
    def link_key(self) -> str:
        return self.file_link_key.get_secret_value()

    def alembic_ini_path(self) -> str:
        """`alembic_ini`, else the source checkout's, else ./file-service (the image's /app)."""
        candidates = [Path(self.alembic_ini)] if self.alembic_ini else []
        candidates += [ALEMBIC_INI, Path.cwd() / "file-service" / "alembic.ini"]
        for path in candidates:
            if path.is_file():
                return str(path)
        raise RuntimeError(
            "file-service cannot find alembic.ini; set CHAT_ALEMBIC_INI to its path "
            f"(looked at {', '.join(str(p) for p in candidates)})"
        )
