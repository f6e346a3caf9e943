"""Typed settings of message-service (environment variables prefixed CHAT_)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import ClassVar

from chat_runtime.http import rate_limit
from chat_runtime.http.rate_limit import RateSetting
from chat_runtime.settings import BaseServiceSettings
from pydantic import Field, SecretStr, model_validator

from message_service import __version__


def default_replica_id() -> str:
    """Host name (the pod's name on Kubernetes) and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


class MessageSettings(BaseServiceSettings):
    # Refused when empty, left at the default, or a URL without a real password, with
    # CHAT_ENV=prod.
    secret_fields: ClassVar[tuple[str, ...]] = ("amqp_url", "database_url", "file_link_key")

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
    # Send-shard leases (ADR 0008): each replica consumes and commits only the send shards it
    # holds a lease on (fair share ceil(shards / replicas), rebalanced as replicas come and go).
    # false: every replica consumes every shard and single-active-consumer alone picks one
    # (failover, no scale-out; the behaviour before 0.3).
    send_leases: bool = True
    # A lease lasts this long unless renewed; a replica that died is replaced after about this
    # long. Renewed (and the fair share sought) every send_lease_renew_s.
    send_lease_ttl_s: float = 5.0
    send_lease_renew_s: float = 1.0
    # Names this process in the leases and in pg_stat_activity (the pod name on Kubernetes).
    replica_id: str = Field(default_factory=default_replica_id)
    # api-v1.1 E: signs the file links (`url`, `thumbnail_url`) of attachments in REST answers
    # (chat_runtime.file_links); the same key as file-service's, which honours them.
    file_link_key: SecretStr = SecretStr("dev-only-file-link-key-change-me")
    # Per-user limits of this replica (chat_runtime.http.rate_limit; `<count>/<period>[:<burst>]`
    # or `off`): 429 `rate_limited` with Retry-After beyond them.
    rate_message_send: RateSetting = rate_limit.DEFAULT_RATES[rate_limit.MESSAGE_SEND]
    rate_room_create: RateSetting = rate_limit.DEFAULT_RATES[rate_limit.ROOM_CREATE]
    rate_dm_open: RateSetting = rate_limit.DEFAULT_RATES[rate_limit.DM_OPEN]
    rate_search: RateSetting = rate_limit.DEFAULT_RATES[rate_limit.SEARCH]
    rate_room_join: RateSetting = rate_limit.DEFAULT_RATES[rate_limit.ROOM_JOIN]
    rate_room_directory: RateSetting = rate_limit.DEFAULT_RATES[rate_limit.ROOM_DIRECTORY]
    # The gateway's broker account (ADR 0015): commands (send and read shards) are handled only
    # when their AMQP user_id, validated by RabbitMQ, is this account; others are dead-lettered
    # unread. Empty: not checked (a stack with one shared account, e.g. private test brokers);
    # refused in prod, where every service has its own account (compose, Kubernetes).
    command_sender: str = ""
    # The accounts whose requests message-service.query answers (a comma list: the gateway's
    # membership queries, file-service's file-access queries; the accounts table's `asks`).
    # Others' requests are dead-lettered unread: they would learn anyone's rooms. Empty: any
    # account (one shared account); refused in prod.
    query_senders: str = ""

    @model_validator(mode="after")
    def _renew_well_within_the_lease(self) -> MessageSettings:
        if not 0 < self.send_lease_renew_s * 2 <= self.send_lease_ttl_s:
            raise ValueError("CHAT_SEND_LEASE_RENEW_S must be at most half CHAT_SEND_LEASE_TTL_S")
        return self

    @model_validator(mode="after")
    def _commands_checked_in_prod(self) -> MessageSettings:
        if self.is_prod and not self.command_sender.strip():
            raise ValueError(
                "refusing to start in prod with an empty CHAT_COMMAND_SENDER: name the gateway's "
                "broker account (ADR 0015), or any account could send commands as any user"
            )
        if self.is_prod and not self.query_sender_accounts():
            raise ValueError(
                "refusing to start in prod with an empty CHAT_QUERY_SENDERS: name the accounts "
                "that may ask message-service.query (ADR 0015), or any account could ask anyone's "
                "rooms"
            )
        return self

    def query_sender_accounts(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.query_senders.split(",") if a.strip())

    def rate_limits(self) -> dict[str, str]:
        return {
            rate_limit.MESSAGE_SEND: self.rate_message_send,
            rate_limit.ROOM_CREATE: self.rate_room_create,
            rate_limit.DM_OPEN: self.rate_dm_open,
            rate_limit.SEARCH: self.rate_search,
            rate_limit.ROOM_JOIN: self.rate_room_join,
            rate_limit.ROOM_DIRECTORY: self.rate_room_directory,
        }


def get_settings() -> MessageSettings:
    return MessageSettings()
