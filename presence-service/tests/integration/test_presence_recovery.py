"""Restarts, leader change between replicas, and our own broker link dropping."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from chat_devtools.presence_sim import SimGateway
from fastapi import FastAPI
from presence_replicas import PresenceEnv
from presence_service.settings import PresenceSettings

HttpFactory = Callable[[FastAPI], httpx.AsyncClient]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(90),
]


def uid() -> str:
    return str(uuid.uuid4())


async def settle(presence_env: PresenceEnv, gw: SimGateway) -> None:
    """Wait until every signal published so far has been handled and announced."""
    marker = uid()
    conn = await gw.open(marker)
    await presence_env.log.wait_for(marker, "online")
    await gw.close(conn)
    await presence_env.log.wait_for(marker, "offline")


async def test_restart_keeps_the_connected_and_announces_who_left(
    presence_env: PresenceEnv, presence_http: HttpFactory
) -> None:
    fast = {"heartbeat_interval_s": 1.5, "recovery_margin_s": 0.5}  # recovery round: 2 s
    gw = presence_env.gateway()
    stays, leaves = uid(), uid()
    async with presence_env.replica(**fast):
        await gw.open(stays)
        leaves_conn = await gw.open(leaves)
        await presence_env.log.wait_for(stays, "online")
        await presence_env.log.wait_for(leaves, "online")
    # presence-service is down: this close is never heard.
    await gw.close(leaves_conn, silently=True)

    async with gw.heartbeating(0.5), presence_env.replica(**fast) as replica:
        started = time.monotonic()
        async with presence_http(replica.app) as http:
            # Until a heartbeat round has passed, the one who left is still shown as announced.
            early = (await http.get("/v1/presence", params={"user_ids": leaves})).json()
            assert early["users"][0]["status"] == "online"
        offline = await presence_env.log.wait_for(leaves, "offline", within_s=6)
        assert 1.5 <= offline.at - started <= 3.5
        await settle(presence_env, gw)
    assert [e.status for e in presence_env.log.of(stays)] == ["online"]
    assert [e.status for e in presence_env.log.of(leaves)] == ["online", "offline"]


async def test_only_the_lock_holder_announces_and_another_takes_over(
    presence_env: PresenceEnv,
) -> None:
    gw = presence_env.gateway()
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(presence_env.replica())
        second_stack = contextlib.AsyncExitStack()
        second = await second_stack.enter_async_context(presence_env.replica())
        try:
            await asyncio.wait_for(first.state.leader.leading.wait(), 5)
            assert not second.state.leader.is_leader

            users = [uid() for _ in range(5)]
            for user in users:
                await gw.open(user)
            for user in users:
                await presence_env.log.wait_for(user, "online")
            await settle(presence_env, gw)
            for user in users:
                assert len(presence_env.log.of(user)) == 1  # announced once, by the leader
            assert second.state.leader.announced_total == 0

            # The leader dies; a user arrives while nobody holds the lock.
            await stack.aclose()
            during = uid()
            t0 = time.monotonic()
            await gw.open(during)
            await asyncio.wait_for(second.state.leader.leading.wait(), 5)
            took_over = await presence_env.log.wait_for(during, "online")
            assert took_over.at - t0 <= 3.0  # lock retry (0.5 s) plus a flush
            after = uid()
            await gw.open(after)
            await presence_env.log.wait_for(after, "online")
            await settle(presence_env, gw)
            for user in [*users, during, after]:
                assert [e.status for e in presence_env.log.of(user)] == ["online"], user
        finally:
            await second_stack.aclose()


class RabbitCtl:
    def __init__(self, amqp_url: str) -> None:
        self.vhost = unquote(urlsplit(amqp_url).path.lstrip("/")) or "/"
        self.ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"

    async def run(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.ctl, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return out.decode()

    async def connection_pids(self, connection_name: str) -> list[str]:
        for _ in range(20):
            # Plain output, one "<pid>\t<client properties>" line per connection.
            out = await self.run(
                "-q", "list_connections", "-p", self.vhost, "pid", "client_properties"
            )
            pids = [line.split("\t", 1)[0] for line in out.splitlines() if connection_name in line]
            if pids:
                return pids
            await asyncio.sleep(0.2)
        raise AssertionError(f"no broker connection named {connection_name}")

    async def close_connections(self, pids: list[str]) -> None:
        for pid in pids:
            await self.run("close_connection", pid, "presence test: broker link drop")


async def test_own_broker_outage_restarts_silence_timers(presence_env: PresenceEnv) -> None:
    # Long enough that the link drop (rabbitmqctl alone can take seconds on a loaded machine)
    # surely happens before the unrestarted timer would have fired at `heard + silence`.
    silence = 15.0
    async with presence_env.replica(gateway_silence_s=silence) as replica:
        reconnected = asyncio.Event()
        reconnected_at: list[float] = []

        async def note() -> None:
            reconnected_at.append(time.monotonic())
            reconnected.set()

        assert replica.broker is not None
        replica.broker.on_reconnect(note)
        settings = replica.settings
        assert isinstance(settings, PresenceSettings)
        ctl = RabbitCtl(presence_env.amqp_url)
        pids = await ctl.connection_pids(f"{settings.service_name}.{settings.replica_id}")
        gw = presence_env.gateway()
        user = uid()
        await gw.open(user)
        await presence_env.log.wait_for(user, "online")
        heard = time.monotonic()  # the gateway says nothing from here on
        # Our link drops while the gateway is quiet (rabbitmqctl itself takes a second or two).
        await asyncio.sleep(2.0)
        await ctl.close_connections(pids)
        assert time.monotonic() - heard < silence - 2, "link drop came too late to prove anything"
        await asyncio.wait_for(reconnected.wait(), 20)
        # Without the restart the gateway would be declared dead at `heard + silence`; with it,
        # not before `reconnected + silence`.
        offline = await presence_env.log.wait_for(user, "offline", within_s=silence + 8)
        assert offline.at - reconnected_at[0] >= silence - 0.5
        assert offline.at - heard >= silence + 1.5
