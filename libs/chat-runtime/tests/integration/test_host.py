"""The service host against a real broker: revocations fail closed until loaded, and are loaded
again after every broker reconnect (issue #11)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from chat_contracts import names, types
from chat_runtime.host import HostContext, ServiceHost
from chat_runtime.host import bus as host_bus
from chat_runtime.messaging import Broker, ConsumerHandle, Envelope
from chat_runtime.messaging.topology import declare_topology
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.testing import close_connections, temporary_vhost

pytestmark = [pytest.mark.integration]

USER_ID = "22222222-2222-4222-8222-222222222222"


async def until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.05)


def revoked_at() -> str:
    # Recent: revocations older than an access token's lifetime are dropped.
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeAuth:
    """Answers `auth.revocations.query.v1` like auth-service, with the sessions it is given."""

    def __init__(self, url: str) -> None:
        self.broker = Broker(url, service="fake-auth")
        self.revoked: list[str] = []
        self.asked = 0
        self._handle: ConsumerHandle | None = None

    async def start(self) -> None:
        await self.broker.connect()
        await declare_topology(self.broker.channel, 1)
        self._handle = await self.broker.serve(
            names.AUTH_QUERY_QUEUE, names.AUTH_REVOCATIONS_QUERY_V1, self.respond
        )

    async def respond(self, _: Envelope[Any]) -> types.AuthRevocationsReplyV1:
        self.asked += 1
        return types.AuthRevocationsReplyV1(
            sessions=[
                types.RevokedSession(session_id=sid, user_id=USER_ID, revoked_at=revoked_at())
                for sid in self.revoked
            ]
        )

    async def stop(self) -> None:
        await self.broker.close()


@asynccontextmanager
async def running_host(url: str, vhost: str) -> AsyncIterator[tuple[ServiceHost, HostContext]]:
    settings = BaseServiceSettings(amqp_url=url, service_name="host-test", send_shards=1)
    host = ServiceHost(
        settings, title="host-test", verify_tokens=True, connection_name=f"host-test-{vhost}"
    )
    async with host.app.router.lifespan_context(host.app):
        ctx = host.app.state.host
        assert isinstance(ctx, HostContext)
        yield host, ctx


async def readyz(host: ServiceHost) -> httpx.Response:
    transport = httpx.ASGITransport(app=host.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
        return await client.get("/readyz")


@pytest.fixture(autouse=True)
def quick_revocation_queries(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nobody answers for a while in these tests: give up on each query sooner than production.
    monkeypatch.setattr(host_bus, "REVOCATIONS_LOAD_TIMEOUT_S", 0.5)


async def test_not_ready_and_failing_closed_until_revocations_are_loaded() -> None:
    async with temporary_vhost("host") as url:
        vhost = url.rsplit("/", 1)[-1]
        auth = FakeAuth(url)
        async with running_host(url, vhost) as (host, ctx):
            await until(lambda: ctx.broker is not None and ctx.broker.is_ready())
            # Connected and consuming, but auth-service has not answered: refuse, not ready.
            assert ctx.revocations is not None
            assert not ctx.revocations.current
            response = await readyz(host)
            assert response.status_code == 503
            assert response.json()["checks"]["revocations"] is False

            auth.revoked = ["11111111-1111-4111-8111-111111111111"]
            await auth.start()
            try:
                await asyncio.wait_for(ctx.bus_ready.wait(), 30)
                assert ctx.revocations.current
                assert ctx.revocations.is_revoked("11111111-1111-4111-8111-111111111111")
                response = await readyz(host)
                assert response.status_code == 200, response.json()
            finally:
                await auth.stop()


async def test_revocations_are_loaded_again_after_a_broker_reconnect() -> None:
    async with temporary_vhost("host") as url:
        vhost = url.rsplit("/", 1)[-1]
        auth = FakeAuth(url)
        await auth.start()
        try:
            async with running_host(url, vhost) as (_, ctx):
                await asyncio.wait_for(ctx.bus_ready.wait(), 30)
                revocations = ctx.revocations
                assert revocations is not None
                assert revocations.current
                asked = auth.asked
                # Revoked while this service is cut off: the event would be lost with its
                # exclusive queue, so only a reload can tell it.
                during_outage = str(uuid.uuid4())
                auth.revoked = [during_outage]
                closed = await close_connections(vhost, f"host-test-{vhost}")
                assert closed >= 1
                await until(lambda: not revocations.current, timeout_s=10)
                await until(lambda: revocations.current and auth.asked > asked)
                assert revocations.is_revoked(during_outage)
        finally:
            await auth.stop()
