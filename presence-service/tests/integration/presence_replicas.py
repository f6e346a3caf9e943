"""In-process presence replicas on the test database and vhost (imported by the tests here)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from chat_devtools.presence_sim import EventLog, SimGateway
from chat_runtime.host import HostContext
from chat_runtime.messaging import Broker
from chat_runtime.tokens import AccessClaims
from presence_service.bootstrap import build
from presence_service.deps import current_user
from presence_service.settings import PresenceSettings


@dataclass
class PresenceEnv:
    database_url: str
    amqp_url: str
    broker: Broker
    log: EventLog

    def settings(self, **overrides: Any) -> PresenceSettings:
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "amqp_url": self.amqp_url,
            "gateway_silence_s": 30.0,
            "heartbeat_interval_s": 10.0,
            "recovery_margin_s": 2.0,
            "sweep_interval_s": 0.2,
            "lock_retry_s": 0.5,
            "jwks_url": "http://127.0.0.1:9/unused",
            "replica_id": uuid.uuid4().hex,
            # The fixture has migrated the database once; replicas skip the (slow) alembic run.
            "run_migrations": False,
        }
        values.update(overrides)
        return PresenceSettings(**values)

    def gateway(self) -> SimGateway:
        return SimGateway(self.broker)

    @contextlib.asynccontextmanager
    async def replica(self, **overrides: Any) -> AsyncIterator[HostContext]:
        """A running replica (its real token verifier and revocation set; the routes see a
        signed-in user), returned once its signal queue is consumed and revocations loaded."""
        app = build(self.settings(**overrides)).app
        claims = AccessClaims(
            user_id=str(uuid.uuid4()),
            session_id=str(uuid.uuid4()),
            jti=str(uuid.uuid4()),
            issued_at=int(time.time()),
            expires_at=int(time.time()) + 900,
        )
        app.dependency_overrides[current_user] = lambda: claims
        async with app.router.lifespan_context(app):
            ctx: HostContext = app.state.host
            await asyncio.wait_for(ctx.bus_ready.wait(), 30)
            yield ctx
