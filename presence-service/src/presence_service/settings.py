"""Typed settings of presence-service (environment variables `CHAT_*`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import ClassVar

from chat_runtime.settings import BaseServiceSettings
from pydantic import Field

from presence_service import __version__

# The source checkout's (an editable install runs from it).
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


class PresenceSettings(BaseServiceSettings):
    # Refused in prod when empty, left at the default, or a URL without a real password.
    secret_fields: ClassVar[tuple[str, ...]] = ("amqp_url", "database_url")

    service_name: str = "presence-service"
    version: str = __version__
    port: int = 8004
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/chat_presence"

    # api-v1 §7: gateways heartbeat every 10 s and a gateway silent for 30 s is dead.
    gateway_silence_s: float = Field(default=30.0, gt=0)
    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    # One full heartbeat round after a start, plus a margin for a late publisher.
    recovery_margin_s: float = Field(default=2.0, ge=0)
    # api-v1 §5 wants offline within 2 s of the last close: no grace period by default (a
    # value above 0 hides page reloads, and must stay below 2 s minus the announce latency).
    offline_grace_s: float = Field(default=0.0, ge=0, le=1.5)
    # How often silent gateways are looked for and the leader lock is re-tried / checked.
    sweep_interval_s: float = Field(default=0.5, gt=0)
    lock_retry_s: float = Field(default=1.5, gt=0)
    # How often the leader checks that its lock connection is alive (a round trip). Every round
    # cost a round trip per 20 ms under load; a lost lock is noticed by a new leader only after
    # PostgreSQL drops the old connection and `lock_retry_s` passes, far longer than this.
    lock_check_s: float = Field(default=0.25, ge=0, le=1.0)
    # Changes arriving within this window go out in one publish round and one database write.
    announce_coalesce_s: float = Field(default=0.02, ge=0, le=0.5)
    # The announced table is written behind the announcements, at most this often (a crash
    # repeats what was announced since the last write; it loses nothing).
    announced_write_every_s: float = Field(default=1.0, ge=0, le=5.0)
    # One advisory-lock key for "the presence announcer" in chat_presence.
    leader_lock_key: int = 0x70726573
    # Create the database and migrate at start (an advisory lock serialises replicas).
    run_migrations: bool = True
    # Where alembic.ini lives when the package is not run from a source checkout (images).
    alembic_ini: str | None = None
    replica_id: str = Field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def recovery_s(self) -> float:
        return self.heartbeat_interval_s + self.recovery_margin_s

    def alembic_ini_path(self) -> str:
        """`alembic_ini`, else the source checkout's, else ./presence-service (the image's /app)."""
        candidates = [Path(self.alembic_ini)] if self.alembic_ini else []
        candidates += [ALEMBIC_INI, Path.cwd() / "presence-service" / "alembic.ini"]
        for path in candidates:
            if path.is_file():
                return str(path)
        raise RuntimeError(
            "presence-service cannot find alembic.ini; set CHAT_ALEMBIC_INI to its path "
            f"(looked at {', '.join(str(p) for p in candidates)})"
        )
