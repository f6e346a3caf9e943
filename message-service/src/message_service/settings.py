"""Typed settings of message-service (environment variables prefixed CHAT_)."""

from __future__ import annotations

from pathlib import Path

from chat_runtime.settings import BaseServiceSettings

from message_service import __version__


class MessageSettings(BaseServiceSettings):
    service_name: str = "message-service"
    version: str = __version__
    port: int = 8003
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/chat_messages"
    # Must equal x-delivery-limit of the command queues (docs/architecture.md).
    delivery_limit: int = 5
    send_prefetch: int = 200
    send_max_batch: int = 100
    # How long a batch waits for more commands after its first one. Commands that arrive while
    # a transaction runs join the next batch anyway; this only matters when the service is not
    # busy. 15 ms instead of 5 gave no measurable CPU gain at 500 msg/s (docs/performance.md).
    send_batch_wait_s: float = 0.005
    # Create the database and migrate at start (an advisory lock serialises replicas). Skipped
    # when alembic.ini is not found (an image without the source tree migrates in its own job).
    run_migrations: bool = True
    # How long DMs and invites wait for a just-registered user to reach the local directory.
    user_wait_s: float = 3.0
    alembic_ini: str = str(Path(__file__).resolve().parents[2] / "alembic.ini")


def get_settings() -> MessageSettings:
    return MessageSettings()
