"""Typed settings of gateway-service (environment variables with the `CHAT_` prefix)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from chat_runtime.settings import BaseServiceSettings
from pydantic import AliasChoices, Field

from gateway_service import __version__


class GatewaySettings(BaseServiceSettings):
    # Refused in prod when empty, left at the default, or a URL without a real password.
    secret_fields: ClassVar[tuple[str, ...]] = ("amqp_url",)

    service_name: str = "gateway-service"
    version: str = __version__
    port: int = 8002
    # One exclusive queue per process: a restarted process is a new gateway to presence-service.
    gateway_id: str = Field(default_factory=lambda: str(uuid.uuid4()))

    heartbeat_interval_s: float = 10.0
    ws_heartbeat_s: int = 25  # announced in `ready`: the client's `ping` interval
    # Keepalive (keepalive.py): a socket silent for ws_ping_idle_s gets a WebSocket ping and is
    # closed when still silent ws_ping_timeout_s later; one sweep visits every socket each
    # ws_keepalive_sweep_s. A dead peer is closed within idle + timeout + 2 sweeps (55 s).
    # ws_ping_idle_s = 0 turns server pings off.
    ws_ping_idle_s: float = 25.0
    ws_ping_timeout_s: float = 15.0
    ws_keepalive_sweep_s: float = 5.0
    ws_max_frame_bytes: int = 65536

    auth_timeout_s: float = 5.0
    membership_timeout_s: float = 5.0
    rate_per_s: float = 20.0
    rate_burst: float = 100.0
    rate_close_after_s: float = 10.0
    # api-v1.1 F: sockets one user may have on this gateway; the next gets `too_many_connections`
    # and close 1008 (CHAT_MAX_SOCKETS_PER_USER).
    max_sockets_per_user: int = Field(20, ge=1)
    # api-v1 §6: clients send `typing` at most every 3 s per room. The gateway relays at most
    # one per user and room per this interval (3 s less half a second of network jitter) and
    # drops the others silently (CHAT_TYPING_MIN_INTERVAL_S; 0 relays all).
    typing_min_interval_s: float = Field(2.5, ge=0)
    max_pending_output_bytes: int = 1024 * 1024
    pending_send_ttl_s: float = 300.0
    sweep_interval_s: float = 1.0
    # Draining on SIGTERM (drain.py): sockets are sent `reconnect` and closed with 1012 at moments
    # spread over sockets / drain_reconnects_per_s seconds, at most drain_max_s.
    drain_max_s: float = Field(20.0, ge=0)
    drain_reconnects_per_s: float = Field(200.0, gt=0)
    # "Online now" (api-v1.1 C): a socket subscribed to every user's presence gets the changes
    # of at most this many distinct users, then one `presence.truncated` (domain/presence.py).
    presence_all_cap: int = Field(
        5000,
        ge=1,
        # The documented CHAT_GATEWAY_* spelling; the short name works in code and tests.
        validation_alias=AliasChoices("CHAT_GATEWAY_PRESENCE_ALL_CAP", "presence_all_cap"),
    )
