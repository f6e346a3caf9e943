"""What the gateway tells presence-service: each socket opened, changed status or closed, and
a heartbeat every `heartbeat_interval_s` with every ready socket (the full truth, so a lost
signal heals at the next beat)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import msgspec
from chat_contracts import names, types
from chat_runtime.logging import get_logger

from gateway_service.domain.frames import rfc3339
from gateway_service.ports import GatewayBus, SessionPort, Unavailable

log = get_logger(__name__)


class PresenceSignals:
    def __init__(
        self,
        bus: GatewayBus,
        *,
        gateway_id: str,
        interval_s: float,
        now: Callable[[], datetime],
    ) -> None:
        self._bus = bus
        self._gateway_id = gateway_id
        self._interval_s = interval_s
        self._now = now
        # The heartbeat's connection entries, kept up to date as sockets become ready, change
        # status or go, so a beat is one list copy instead of a scan of every connection.
        self._entries: dict[str, types.HeartbeatConnection] = {}

    # --- the heartbeat -------------------------------------------------------------------------

    def track(self, session: SessionPort) -> None:
        """The socket got `ready`: from now on the heartbeat carries it."""
        self._entries[session.connection_id] = types.HeartbeatConnection(
            connection_id=session.connection_id,
            user_id=session.user_id,
            status=session.status,
        )

    def forget(self, connection_id: str) -> None:
        self._entries.pop(connection_id, None)

    def heartbeat(self) -> types.PresenceGatewayHeartbeatV1:
        # Entries are frozen structs: sharing them with the encoder is safe, and encoding
        # 10 000 of them is one msgspec pass (no per-beat validation: presence-service decodes).
        return types.PresenceGatewayHeartbeatV1(
            gateway_id=self._gateway_id,
            sent_at=rfc3339(self._now()),
            interval_s=_number(self._interval_s),
            connections=list(self._entries.values()),
        )

    async def run_heartbeat(self) -> None:
        while True:
            try:
                await self._bus.publish_event(names.PRESENCE_GATEWAY_HEARTBEAT_V1, self.heartbeat())
            except Unavailable as exc:
                log.warning("heartbeat_publish_failed", error=str(exc))
            except Exception:
                log.exception("heartbeat_failed")
            await asyncio.sleep(self._interval_s)

    # --- per-socket signals --------------------------------------------------------------------

    async def opened(self, session: SessionPort) -> None:
        await self._publish(
            names.PRESENCE_CONNECTION_OPENED_V1,
            types.PresenceConnectionOpenedV1(
                gateway_id=self._gateway_id,
                connection_id=session.connection_id,
                user_id=session.user_id,
                status=session.status,
                at=rfc3339(self._now()),
            ),
        )

    async def status_changed(self, session: SessionPort) -> None:
        entry = self._entries.get(session.connection_id)
        if entry is not None:
            self._entries[session.connection_id] = msgspec.structs.replace(
                entry, status=session.status
            )
        await self._publish(
            names.PRESENCE_CONNECTION_UPDATED_V1,
            types.PresenceConnectionUpdatedV1(
                gateway_id=self._gateway_id,
                connection_id=session.connection_id,
                user_id=session.user_id,
                status=session.status,
                at=rfc3339(self._now()),
            ),
        )

    async def closed(self, session: SessionPort) -> None:
        await self._publish(
            names.PRESENCE_CONNECTION_CLOSED_V1,
            types.PresenceConnectionClosedV1(
                gateway_id=self._gateway_id,
                connection_id=session.connection_id,
                user_id=session.user_id,
                at=rfc3339(self._now()),
            ),
        )

    async def _publish(self, routing_key: str, body: msgspec.Struct) -> None:
        """Persistent + confirmed; a failure is only logged because the next heartbeat carries
        the full truth anyway."""
        try:
            await self._bus.publish_event(routing_key, body)
        except Unavailable as exc:
            log.warning("presence_publish_failed", routing_key=routing_key, error=str(exc))


def _number(value: float) -> float | int:
    """10.0 travels as 10 (the documented value), a fractional test interval as itself."""
    return int(value) if value == int(value) else value
