"""Draining a gateway (api-v1.1 F, issue #22): SIGTERM to a gateway holding 1 000 sockets.

Every socket gets `{"type":"reconnect","after_ms":N}` with the Ns spread over the drain period
(sockets / CHAT_DRAIN_RECONNECTS_PER_S = 1 000 / 200 = 5 s here), is closed with 1012 at its
moment, and comes back to the other gateway N ms after the frame, as the browser client does. So
the reconnections arrive spread over the drain period instead of all at once, the draining
gateway is not ready meanwhile, and it exits within its grace period. Messages keep flowing the
whole time: every socket ends up with every message of the room (live, or by `after_seq` on its
new `ready`), and every send of the crowd (some of it on the draining gateway) is in the database
exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import statistics
import time
import uuid
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from chatclient import ChatApi, ChatClient, User
from faultkit import (
    Crowd,
    FaultStack,
    assert_no_dead_letters,
    close_crowd,
    fetch_messages,
    run_load,
    settle_and_verify,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

log = logging.getLogger("fault")
pytestmark = [pytest.mark.fault, pytest.mark.timeout(420)]

SOCKETS = 1000
USERS = 20  # 50 sockets each
SENDERS = 6  # ChatClients that send to the room throughout (half start on the victim)
RECONNECTS_PER_S = 200.0  # GatewaySettings.drain_reconnects_per_s (default)
GATEWAY_GRACE_S = 10.0  # gateway_service.__main__: uvicorn's graceful shutdown after the drain
SUBPROTOCOL = Subprotocol("chat.v1")


@dataclass
class Socket:
    """One of the 1 000: what happened to it, in the event loop's clock."""

    user: User
    seqs: set[int] = field(default_factory=set)
    told_at: float | None = None
    after_ms: int | None = None
    closed_at: float | None = None
    close_code: int | None = None
    reconnect_at: float | None = None
    ready_again_at: float | None = None
    second: ClientConnection | None = None
    caught_up: bool = False
    failures: list[str] = field(default_factory=list)


def contiguous(seqs: set[int]) -> int:
    n = 0
    while n + 1 in seqs:
        n += 1
    return n


async def open_ready(url: str, token: str, failures: list[str]) -> ClientConnection:
    """Connect, authenticate, wait for `ready`; retried with backoff (a busy gateway may answer
    `unavailable`)."""
    for attempt in range(8):
        try:
            ws = await connect(
                url,
                subprotocols=[SUBPROTOCOL],
                open_timeout=20,
                close_timeout=2,
                ping_interval=None,
                max_size=2**20,
            )
            await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
            first = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
            if first.get("type") == "ready":
                return ws
            failures.append(f"first frame {first}")
            await ws.close()
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
            failures.append(repr(exc))
        await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
    raise AssertionError(f"no ready from {url}: {failures[-3:]}")


def take(sock: Socket, raw: str | bytes, room: str, now: float) -> None:
    frame = orjson.loads(raw)
    kind = frame.get("type")
    if kind in ("message.new", "message.ack") and frame["message"]["room_id"] == room:
        sock.seqs.add(int(frame["message"]["seq"]))
    elif kind == "reconnect":
        sock.told_at = now
        sock.after_ms = int(frame["after_ms"])


async def live(
    sock: Socket, victim: str, survivor: str, room: str, api: ChatApi, gate: asyncio.Semaphore,
    connected: list[Socket],
) -> None:  # fmt: skip
    """The browser client's behaviour, socket by socket: on the victim until it is closed, then
    on the survivor `after_ms` after the `reconnect` frame, with an after_seq fetch on `ready`."""
    loop = asyncio.get_running_loop()
    async with gate:
        ws = await open_ready(victim, sock.user.token, sock.failures)
    connected.append(sock)
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            take(sock, raw, room, loop.time())
    sock.closed_at = loop.time()
    sock.close_code = ws.close_code
    if sock.told_at is not None and sock.after_ms is not None:
        await asyncio.sleep(max(0.0, sock.told_at + sock.after_ms / 1000 - loop.time()))
    sock.reconnect_at = loop.time()
    ws2 = await open_ready(survivor, sock.user.token, sock.failures)
    sock.second = ws2
    sock.ready_again_at = loop.time()
    reader = asyncio.create_task(_read(ws2, sock, room))
    # A thousand browsers have a connection each; here they share a pool, so be patient.
    for message in await api.history_after(sock.user, room, contiguous(sock.seqs), retry_for_s=120):
        sock.seqs.add(int(message["seq"]))
    sock.caught_up = True
    await reader


async def _read(ws: ClientConnection, sock: Socket, room: str) -> None:
    loop = asyncio.get_running_loop()
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            take(sock, raw, room, loop.time())


async def test_sigterm_drains_1000_sockets_spread_over_the_period_and_loses_nothing(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient
) -> None:
    fs = fault_stack
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request, thousands
    victim, survivor = fs.gateway_names[:2]
    victim_url, survivor_url = fs.ws_url(victim), fs.ws_url(survivor)
    dead_before = fs.dead_letters()
    loop = asyncio.get_running_loop()
    started = time.monotonic()

    api = ChatApi(fs.auth_url, fs.message_urls, fault_http)
    catch_up_http = httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, pool=None),
        limits=httpx.Limits(max_connections=40),
        trust_env=False,
    )
    catch_up_api = ChatApi(fs.auth_url, fs.message_urls, catch_up_http, request_timeout_s=30.0)
    users = list(await asyncio.gather(*(api.register("drain") for _ in range(USERS + SENDERS))))
    room = await api.create_room(users[0], f"drain-{uuid.uuid4().hex[:8]}")
    await asyncio.gather(*(api.join_room(u, room) for u in users[1:]))
    senders = [
        ChatClient(api, u, [victim_url, survivor_url] if i % 2 == 0 else [survivor_url, victim_url],
                   [room], name=f"s{i}")
        for i, u in enumerate(users[USERS:])
    ]  # fmt: skip
    crowd = Crowd(api, senders, {room: senders})
    socks = [Socket(users[i % USERS]) for i in range(SOCKETS)]
    connected: list[Socket] = []
    gate = asyncio.Semaphore(50)
    lives: list[asyncio.Task[None]] = []
    load: asyncio.Task[int] | None = None
    stop = asyncio.Event()
    try:
        await asyncio.gather(*(c.start() for c in senders))
        lives = [
            asyncio.create_task(
                live(s, victim_url, survivor_url, room, catch_up_api, gate, connected)
            )
            for s in socks
        ]

        async def all_connected() -> None:
            while len(connected) < SOCKETS:
                failed = [t for t in lives if t.done() and t.exception() is not None]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
                await asyncio.sleep(0.2)

        await asyncio.wait_for(all_connected(), 150)
        log.info("%d sockets on %s after %.1fs", SOCKETS, victim, time.monotonic() - started)
        load = asyncio.create_task(run_load(crowd, stop, interval_s=1.5, room=room))
        await asyncio.sleep(2.0)  # messages flowing to every socket

        proc = fs.stack.processes[victim]
        assert proc.popen is not None
        sigterm_at = loop.time()
        proc.popen.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        # Draining: still serving its sockets, but not ready (no new ones are routed to it).
        ready = await fault_http.get(f"{fs.stack.url(victim)}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["checks"]["serving"] is False

        log.info("SIGTERM to %s; not ready while draining", victim)
        period_s = SOCKETS / RECONNECTS_PER_S
        exited = await fs.call(proc.wait, period_s + GATEWAY_GRACE_S + 10)
        assert exited, f"{victim} still running after its drain:\n{proc.log_tail()}"
        assert proc.returncode in (0, -signal.SIGTERM)
        log.info("%s exited %.1fs after SIGTERM", victim, loop.time() - sigterm_at)

        async def all_back() -> None:
            while sum(s.caught_up for s in socks) < SOCKETS:
                failed = [t for t in lives if t.done() and t.exception() is not None]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
                await asyncio.sleep(0.2)

        await asyncio.wait_for(all_back(), 150)
        log.info("every socket back and caught up %.1fs after SIGTERM", loop.time() - sigterm_at)
        await asyncio.sleep(2.0)  # load continues on the survivor alone
        stop.set()
        await load
        load = None
        verdict = await settle_and_verify(fs, crowd)
        # The last messages reach the sockets live.
        rows = await fetch_messages(fs.messages_dsn, [room])
        every = {int(r["seq"]) for r in rows}

        async def all_seen() -> None:
            while any(not every <= s.seqs for s in socks):
                await asyncio.sleep(0.2)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_seen(), 20)

        # -- what the drain did ------------------------------------------------------------------
        told = [s for s in socks if s.told_at is not None]
        assert len(told) == SOCKETS, f"{SOCKETS - len(told)} sockets got no reconnect frame"
        assert {s.close_code for s in socks} == {1012}
        first_told = min(s.told_at for s in told if s.told_at is not None)
        assert first_told - sigterm_at < 2.0
        after = sorted(s.after_ms for s in told if s.after_ms is not None)
        expected_ms = (SOCKETS + SENDERS) / RECONNECTS_PER_S * 1000
        assert after[-1] < expected_ms + 50
        assert after[0] < 0.05 * expected_ms
        assert after[-1] > 0.95 * expected_ms
        # Evenly: every tenth of the period holds about a tenth of the delays.
        tenths = [0] * 10
        for ms in after:
            tenths[min(9, int(ms / expected_ms * 10))] += 1
        assert max(tenths) <= SOCKETS / 10 * 1.2, tenths
        # Each socket was closed at its moment (not all at once), and came back at it.
        lateness = [
            s.closed_at - (s.told_at + s.after_ms / 1000)
            for s in told
            if s.closed_at is not None and s.told_at is not None and s.after_ms is not None
        ]
        assert min(lateness) > -0.25, min(lateness)
        assert statistics.median(lateness) < 1.5, statistics.median(lateness)
        back = sorted(s.reconnect_at - first_told for s in socks if s.reconnect_at is not None)
        per_second = [0] * (math.ceil(back[-1]) + 1)
        for t in back:
            per_second[int(t)] += 1
        log.info(
            "reconnections per second after the first reconnect frame: %s (period %.1fs); "
            "close lateness median %.3fs max %.3fs; ready again by %.1fs",
            per_second,
            expected_ms / 1000,
            statistics.median(lateness),
            max(lateness),
            max(s.ready_again_at - first_told for s in socks if s.ready_again_at is not None),
        )
        # Spread over the period: no second takes much more than its share (all at once would be
        # five shares in one second; a busy machine delays some closes into the next second), and
        # the middle 80 % of the reconnections span most of the period.
        share = SOCKETS / (expected_ms / 1000)
        assert max(per_second) <= 2.5 * share, per_second
        p10, p90 = back[len(back) // 10], back[len(back) * 9 // 10]
        assert p90 - p10 >= 0.5 * expected_ms / 1000, (p10, p90)

        # -- nothing lost ------------------------------------------------------------------------
        # (the verdict counts the crowd's sends; the joins' `system` entries are in `every` too)
        assert verdict.rows == sum(1 for r in rows if r["kind"] != "system") > 0
        missing = [s for s in socks if not every <= s.seqs]
        assert not missing, (
            f"{len(missing)} sockets miss messages, e.g. {sorted(every - missing[0].seqs)[:10]}"
        )
        assert_no_dead_letters(fs, dead_before)
        log.info("drain test took %.1fs", time.monotonic() - started)
    finally:
        stop.set()
        if load is not None:
            with contextlib.suppress(Exception):
                await load
        for task in lives:
            task.cancel()
        await asyncio.gather(*lives, return_exceptions=True)
        await asyncio.gather(
            *(s.second.close() for s in socks if s.second is not None), return_exceptions=True
        )
        await close_crowd(crowd)
        await catch_up_http.aclose()
