"""The stack every benchmark starts: the normal services, unchanged, with the per-user limits
and the per-address sign-up and sign-in limits lifted, because every bench user registers and
signs in from 127.0.0.1 (the limits would stall a second run within 15 minutes, and cached users
unknown to a fresh database count as failed sign-ins)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chat_devtools.config import ServiceSpec, StackConfig

LIFTED_LIMITS = {
    "CHAT_AUTH_REGISTER_ADDRESS_LIMIT": "1000000",
    "CHAT_AUTH_LOGIN_ADDRESS_LIMIT": "1000000",
    # Benchmarks measure the services, not the anti-automation limits (issue #20): idle.py opens
    # ~100 sockets per user, the search bench asks as fast as it can.
    "CHAT_MAX_SOCKETS_PER_USER": "1000000",
    "CHAT_TYPING_MIN_INTERVAL_S": "0",
    "CHAT_RATE_MESSAGE_SEND": "off",
    "CHAT_RATE_ROOM_CREATE": "off",
    "CHAT_RATE_DM_OPEN": "off",
    "CHAT_RATE_SEARCH": "off",
    "CHAT_RATE_INVITE_CREATE": "off",
    "CHAT_RATE_FILE_UPLOAD": "off",
    "CHAT_RATE_ROOM_JOIN": "off",
    "CHAT_RATE_ROOM_DIRECTORY": "off",
    "CHAT_RATE_PEOPLE_SEARCH": "off",
}


def bench_stack_config(
    *,
    root: Path,
    services: tuple[ServiceSpec, ...],
    amqp_url: str,
    database_urls: Mapping[str, str],
    edge_port: int | None,
    workdir: Path,
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 60.0,
) -> StackConfig:
    return StackConfig(
        root=root,
        services=services,
        amqp_url=amqp_url,
        database_urls=dict(database_urls),
        edge_port=edge_port,
        log_dir=workdir / "log",
        run_dir=workdir / "run",
        env={**LIFTED_LIMITS, **(env or {})},
        ready_timeout_s=ready_timeout_s,
    )
