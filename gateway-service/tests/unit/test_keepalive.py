"""The process-wide keepalive sweep: who gets pinged, who gets closed, who is left alone."""

from __future__ import annotations

import asyncio

import pytest
from gateway_service.keepalive import KeepaliveSweeper

pytestmark = pytest.mark.unit


class FakeSocket:
    """Stands in for KeepaliveProtocol: the attributes and the two actions the sweep uses."""

    def __init__(self, *, writable: bool = True) -> None:
        self.ka_quiet_since = 0.0
        self.ka_ping_at = 0.0
        self.ka_heard = False
        self.writable = writable
        self.pings = 0
        self.timed_out = False

    def send_keepalive_frame(self) -> bool:
        if self.writable:
            self.pings += 1
        return self.writable

    def keepalive_timeout(self) -> None:
        self.timed_out = True


def sweeper_with(sock: FakeSocket, at: float = 0.0) -> KeepaliveSweeper:
    sweeper = KeepaliveSweeper(idle_s=30.0, timeout_s=15.0, sweep_s=5.0)
    sweeper.add(sock, at)  # type: ignore[arg-type]
    return sweeper


def visit(sweeper: KeepaliveSweeper, sock: FakeSocket, now: float) -> None:
    sweeper.visit(sock, now)  # type: ignore[arg-type]


def test_quiet_socket_is_pinged_once_after_idle_s_and_not_before() -> None:
    sock = FakeSocket()
    sweeper = sweeper_with(sock)
    for now in (5.0, 10.0, 25.0):
        visit(sweeper, sock, now)
    assert sock.pings == 0
    visit(sweeper, sock, 30.0)
    visit(sweeper, sock, 35.0)  # a ping is outstanding: no second one
    assert sock.pings == 1
    assert sweeper.pings_sent == 1
    assert not sock.timed_out


def test_answered_ping_restarts_the_quiet_period() -> None:
    sock = FakeSocket()
    sweeper = sweeper_with(sock)
    visit(sweeper, sock, 30.0)
    sock.ka_heard = True  # the pong arrived (data_received)
    visit(sweeper, sock, 35.0)
    assert sock.ka_ping_at == 0.0
    visit(sweeper, sock, 60.0)
    assert sock.pings == 1  # 25 s quiet since 35: not yet
    visit(sweeper, sock, 65.0)
    assert sock.pings == 2
    assert not sock.timed_out


def test_silent_peer_is_closed_timeout_s_after_its_ping() -> None:
    sock = FakeSocket()
    sweeper = sweeper_with(sock)
    visit(sweeper, sock, 30.0)
    visit(sweeper, sock, 40.0)
    assert not sock.timed_out
    visit(sweeper, sock, 45.0)
    assert sock.timed_out
    assert sweeper.timeouts == 1
    assert sock not in sweeper.sockets


def test_talking_client_is_never_pinged() -> None:
    """The frontend's `ping` frame every 25 s keeps its socket out of the server's pings."""
    sock = FakeSocket()
    sweeper = sweeper_with(sock)
    for now in range(5, 300, 5):
        if now % 25 == 0:
            sock.ka_heard = True
        visit(sweeper, sock, float(now))
    assert sock.pings == 0
    assert not sock.timed_out


def test_dead_peer_closed_within_a_minute_of_its_last_frame() -> None:
    sock = FakeSocket()
    sweeper = sweeper_with(sock)
    last_frame = 12.3
    now = 0.0
    while not sock.timed_out:
        now += sweeper.sweep_s
        if now - sweeper.sweep_s < last_frame <= now:
            sock.ka_heard = True
        visit(sweeper, sock, now)
        assert now < 120
    assert now - last_frame <= 60.0


def test_closing_socket_is_not_counted_as_pinged() -> None:
    sock = FakeSocket(writable=False)
    sweeper = sweeper_with(sock)
    visit(sweeper, sock, 30.0)
    assert sweeper.pings_sent == 0
    assert sock.ka_ping_at == 0.0


async def test_sweep_task_visits_every_socket_spread_over_one_period() -> None:
    sweeper = KeepaliveSweeper(idle_s=0.05, timeout_s=10.0, sweep_s=0.1)
    loop = asyncio.get_running_loop()
    socks = [FakeSocket() for _ in range(25)]
    for sock in socks:
        sweeper.add(sock, loop.time())  # type: ignore[arg-type]
    sweeper.start()
    try:
        async with asyncio.timeout(2.0):
            while not all(s.pings for s in socks):
                await asyncio.sleep(0.02)
    finally:
        await sweeper.stop()
    assert all(s.pings == 1 for s in socks)
    assert not any(s.timed_out for s in socks)


def test_disabled_sweeper_never_starts() -> None:
    sweeper = KeepaliveSweeper(idle_s=0.0)
    assert not sweeper.enabled
    sweeper.start()  # no running loop needed: nothing is scheduled
