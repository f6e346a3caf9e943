"""Presence load generator: N simulated gateways publish signals straight to the broker.

Starts its own presence-service (a private vhost and database on the shared instances, an HTTP
port in 18400-18499; the generator answers its revocations query in auth-service's place), then:

1. warm-up: every gateway heartbeats its share of --users connections; waits until all of them
   are announced online;
2. steady state for --duration seconds: --rate connects (a new user's first socket) and --rate
   disconnects (an online user's last socket) per second, spread evenly over the gateways, each
   gateway heartbeating its full list every 10 s (one message per gateway);
3. measures transition -> presence.changed.v1 latency (p50/p99/max) for every steady-state
   transition, counts presence broker messages (signals in, changes out), and samples the CPU of
   the presence-service process every second with psutil.

Writes JSON to bench/results/presence-<date>.json.

    .venv/bin/python bench/presence/run.py --users 10000 --rate 100 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import chat_contracts
import httpx
import msgspec
import psutil  # type: ignore[import-untyped]
from chat_contracts import names, types
from chat_devtools.presence_sim import answer_revocation_queries
from chat_runtime.messaging import Broker, OutgoingMessage, PublishError
from chat_runtime.messaging.topology import declare_exchanges
from chat_runtime.testing import temporary_database, temporary_vhost

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
HEARTBEAT_S = 10.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Gateway:
    gateway_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    connections: dict[str, str] = field(default_factory=dict)  # connection_id -> user_id


@dataclass
class Stats:
    published: dict[str, int] = field(default_factory=dict)
    changes_received: int = 0
    pending: dict[tuple[str, str], float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    sent_times: list[float] = field(default_factory=list)  # parallel to latencies
    # When the generator's publish of a transition was confirmed, and when its change arrived:
    # latency from the confirm leaves out the broker's queueing of the generator's own publish.
    confirmed_at: dict[tuple[str, str], float] = field(default_factory=dict)
    received_at: dict[tuple[str, str], float] = field(default_factory=dict)
    confirm_s: list[float] = field(default_factory=list)
    measuring: bool = False
    warm_online: int = 0
    warm_done: asyncio.Event = field(default_factory=asyncio.Event)
    warm_target: int = 0
    unexpected: int = 0
    publish_failed: int = 0

    def count(self, type_name: str) -> None:
        self.published[type_name] = self.published.get(type_name, 0) + 1


class Load:
    def __init__(self, broker: Broker, gateways: int, stats: Stats) -> None:
        self.broker = broker
        self.gateways = [Gateway() for _ in range(gateways)]
        self.stats = stats
        self.online: list[tuple[int, str, str]] = []  # (gateway index, connection id, user id)
        self._next = 0

    async def send(self, body: msgspec.Struct) -> None:
        # As a gateway does: the type name is the routing key.
        type_name = chat_contracts.contract_of(body)
        result = await self.broker.publish(
            names.EXCHANGE_EVENTS, OutgoingMessage.of(type_name, body)
        )
        try:
            result.raise_first()
        except PublishError:
            # Not confirmed in time (the broker is overloaded): counted, not fatal.
            self.stats.publish_failed += 1
            raise
        self.stats.count(type_name)

    async def heartbeat(self, index: int) -> None:
        gw = self.gateways[index]
        heartbeat = types.PresenceGatewayHeartbeatV1(
            gateway_id=gw.gateway_id,
            sent_at=now_iso(),
            interval_s=HEARTBEAT_S,
            connections=[
                types.HeartbeatConnection(connection_id=c, user_id=u, status="online")
                for c, u in gw.connections.items()
            ],
        )
        message = OutgoingMessage.of(names.PRESENCE_GATEWAY_HEARTBEAT_V1, heartbeat)
        (await self.broker.publish(names.EXCHANGE_EVENTS, message)).raise_first()
        self.stats.count(names.PRESENCE_GATEWAY_HEARTBEAT_V1)

    def add_connection(self) -> tuple[int, str, str]:
        index = self._next % len(self.gateways)
        self._next += 1
        conn, user = str(uuid.uuid4()), str(uuid.uuid4())
        self.gateways[index].connections[conn] = user
        self.online.append((index, conn, user))
        return index, conn, user

    async def connect(self) -> None:
        index, conn, user = self.add_connection()
        sent = self.stats.pending[(user, "online")] = time.monotonic()
        await self.send(
            types.PresenceConnectionOpenedV1(
                gateway_id=self.gateways[index].gateway_id,
                connection_id=conn,
                user_id=user,
                status="online",
                at=now_iso(),
            )
        )
        confirmed = self.stats.confirmed_at[(user, "online")] = time.monotonic()
        self.stats.confirm_s.append(confirmed - sent)

    async def disconnect(self) -> None:
        # Swap-remove a random-enough entry: the oldest half churns like real sessions.
        pick = self._next * 7919 % len(self.online)
        index, conn, user = self.online[pick]
        self.online[pick] = self.online[-1]
        self.online.pop()
        del self.gateways[index].connections[conn]
        sent = self.stats.pending[(user, "offline")] = time.monotonic()
        await self.send(
            types.PresenceConnectionClosedV1(
                gateway_id=self.gateways[index].gateway_id,
                connection_id=conn,
                user_id=user,
                at=now_iso(),
            )
        )
        confirmed = self.stats.confirmed_at[(user, "offline")] = time.monotonic()
        self.stats.confirm_s.append(confirmed - sent)


async def guarded(coro: Coroutine[Any, Any, None]) -> None:
    with contextlib.suppress(PublishError):
        await coro


async def heartbeat_forever(load: Load, gateways: int) -> None:
    start = time.monotonic()
    beat = 0
    while True:
        index = beat % gateways
        await load.heartbeat(index)
        beat += 1
        # Gateway i beats at start + i * 10 s / N, then every 10 s.
        await asyncio.sleep(max(0.0, start + beat * HEARTBEAT_S / gateways - time.monotonic()))


async def record(broker: Broker, stats: Stats) -> None:
    queue = await broker.channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(names.EXCHANGE_EVENTS, routing_key=names.PRESENCE_CHANGED_V1)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        change = chat_contracts.decode(names.PRESENCE_CHANGED_V1, message.body)
        assert isinstance(change, types.PresenceChangedV1)
        stats.changes_received += 1
        if not stats.measuring:
            if change.status == "online":
                stats.warm_online += 1
                if stats.warm_online >= stats.warm_target:
                    stats.warm_done.set()
        else:
            key = (change.user_id, change.status)
            sent = stats.pending.pop(key, None)
            if sent is None:
                stats.unexpected += 1
            else:
                received = stats.received_at[key] = time.monotonic()
                stats.latencies.append(received - sent)
                stats.sent_times.append(sent)
        await message.ack()

    await queue.consume(on_message, no_ack=False)


@contextlib.asynccontextmanager
async def auth_stand_in(amqp_url: str) -> AsyncIterator[None]:
    """presence-service verifies tokens and is ready only once it has loaded the revoked
    sessions from auth-service: answer that query (none revoked) in auth-service's place."""
    broker = Broker(amqp_url, service="presence-bench-auth")
    await broker.connect()
    try:
        await answer_revocation_queries(broker)
        yield
    finally:
        await broker.close()


@contextlib.asynccontextmanager
async def presence_service(
    amqp_url: str, database_url: str, port: int, log_path: Path
) -> AsyncIterator[psutil.Process]:
    env = {
        **os.environ,
        "CHAT_AMQP_URL": amqp_url,
        "CHAT_DATABASE_URL": database_url,
        "CHAT_PORT": str(port),
        "CHAT_HOST": "127.0.0.1",
        "CHAT_JWKS_URL": "http://127.0.0.1:9/unused",
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
            [sys.executable, "-m", "presence_service"],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                for _ in range(300):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get("/readyz")).status_code == 200:
                            break
                    if proc.poll() is not None:
                        raise RuntimeError(f"presence-service exited; see {log_path}")
                    await asyncio.sleep(0.2)
                else:
                    raise RuntimeError(f"presence-service not ready; see {log_path}")
            yield psutil.Process(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def sample_cpu(process: psutil.Process, samples: list[float], stop: asyncio.Event) -> None:
    process.cpu_percent(None)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        with contextlib.suppress(psutil.Error):
            samples.append(process.cpu_percent(None))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def histogram_quantiles(metrics_text: str, name: str) -> dict[str, float | None]:
    """p50/p99 upper bounds from a Prometheus histogram's cumulative buckets."""
    buckets: list[tuple[float, float]] = []
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    if not buckets or buckets[-1][1] == 0:
        return {"p50_le": None, "p99_le": None}
    total = buckets[-1][1]

    def bound(q: float) -> float:
        return next(le for le, count in buckets if count >= q * total)

    return {"p50_le": bound(0.5), "p99_le": bound(0.99), "count": total}


async def run(args: argparse.Namespace, amqp_url: str, process: psutil.Process) -> dict[str, Any]:
    stats = Stats(warm_target=args.users)
    broker = Broker(amqp_url, service="presence-bench")
    await broker.connect()
    await declare_exchanges(broker.channel)
    await record(broker, stats)
    load = Load(broker, args.gateways, stats)

    # 1. Warm-up: the users arrive through heartbeats (one message per gateway).
    for _ in range(args.users):
        load.add_connection()
    warm_started = time.monotonic()
    # Every gateway heartbeats every 10 s for the whole run (staggered), warm-up included:
    # a gateway silent for 30 s would be declared dead.
    heartbeats = asyncio.create_task(heartbeat_forever(load, args.gateways))
    await asyncio.wait_for(stats.warm_done.wait(), args.warmup_timeout)
    warm_s = time.monotonic() - warm_started

    # 2. Steady state.
    stats.measuring = True
    load_at_start = os.getloadavg()
    published_before = dict(stats.published)
    changes_before = stats.changes_received
    cpu: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_cpu(process, cpu, stop))
    cpu_times_before = process.cpu_times()
    me = psutil.Process()
    my_times_before = me.cpu_times()
    started = time.monotonic()
    tick = 1.0 / args.rate
    step = 0
    in_flight: set[asyncio.Task[None]] = set()
    while time.monotonic() - started < args.duration:
        step += 1
        for coro in (guarded(load.connect()), guarded(load.disconnect())):
            task = asyncio.create_task(coro)
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.sleep(max(0.0, started + step * tick - time.monotonic()))
    await asyncio.gather(*in_flight)
    steady_s = time.monotonic() - started
    heartbeats_in_steady = stats.published.get(names.PRESENCE_GATEWAY_HEARTBEAT_V1, 0) - (
        published_before.get(names.PRESENCE_GATEWAY_HEARTBEAT_V1, 0)
    )
    # 3. Drain: every transition announced, or give up after a few seconds.
    drain_until = time.monotonic() + 5
    while stats.pending and time.monotonic() < drain_until:  # noqa: ASYNC110 - bounded poll
        await asyncio.sleep(0.1)
    stop.set()
    await sampler
    heartbeats.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await heartbeats
    cpu_times_after = process.cpu_times()
    my_times_after = me.cpu_times()
    await broker.close()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}") as http:
        metrics_text = (await http.get("/metrics")).text

    signals = {k: v - published_before.get(k, 0) for k, v in stats.published.items()}
    signals[names.PRESENCE_GATEWAY_HEARTBEAT_V1] = heartbeats_in_steady
    transitions = signals.get(names.PRESENCE_CONNECTION_OPENED_V1, 0) + signals.get(
        names.PRESENCE_CONNECTION_CLOSED_V1, 0
    )
    changes = stats.changes_received - changes_before
    # A change may arrive before the generator has processed its own confirm: 0 then.
    from_confirm = [
        max(0.0, received - stats.confirmed_at[key])
        for key, received in stats.received_at.items()
        if key in stats.confirmed_at
    ]
    cpu_s = (cpu_times_after.user + cpu_times_after.system) - (
        cpu_times_before.user + cpu_times_before.system
    )
    return {
        "benchmark": "presence",
        "date": now_iso(),
        "host": {
            "cpus": psutil.cpu_count(),
            "load_avg_1m_at_start": round(load_at_start[0], 2),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "commit": git_commit(),
        "config": {
            "users": args.users,
            "gateways": args.gateways,
            "connects_per_s": args.rate,
            "disconnects_per_s": args.rate,
            "duration_s": args.duration,
        },
        "warmup": {"users_online": stats.warm_online, "seconds": round(warm_s, 3)},
        "steady": {
            "seconds": round(steady_s, 3),
            "transitions": transitions,
            "announced": len(stats.latencies),
            "not_announced": len(stats.pending),
            "unexpected_changes": stats.unexpected,
            "generator_publish_failures": stats.publish_failed,
            "latency_ms": {
                "p50": _ms(percentile(stats.latencies, 0.50)),
                "p99": _ms(percentile(stats.latencies, 0.99)),
                "max": _ms(max(stats.latencies) if stats.latencies else None),
                "mean": _ms(statistics.fmean(stats.latencies) if stats.latencies else None),
                "p90": _ms(percentile(stats.latencies, 0.90)),
                "p95": _ms(percentile(stats.latencies, 0.95)),
            },
            # Which seconds of the run were slow (second after steady start: worst latency, ms,
            # transitions): a stall of the broker or the machine shows up as a few bad seconds.
            "worst_seconds": worst_seconds(stats.sent_times, stats.latencies, started),
            "latency_from_confirm_ms": {
                "p50": _ms(percentile(from_confirm, 0.50)),
                "p99": _ms(percentile(from_confirm, 0.99)),
                "max": _ms(max(from_confirm) if from_confirm else None),
                "count": len(from_confirm),
            },
            # Measured inside presence-service (whole run, warm-up included): bucket bounds.
            "service_announce_delay_s": histogram_quantiles(
                metrics_text, "presence_announce_delay_seconds"
            ),
            "service_flush_changes": histogram_quantiles(metrics_text, "presence_flush_changes"),
            # The generator's own publish-to-confirm time, included in the latency above.
            "signal_confirm_ms": {
                "p50": _ms(percentile(stats.confirm_s, 0.50)),
                "p99": _ms(percentile(stats.confirm_s, 0.99)),
            },
            "broker_messages": {
                "signals_in": signals,
                "signals_in_per_s": round(sum(signals.values()) / steady_s, 1),
                "heartbeats_per_gateway_per_10s": round(
                    signals.get(names.PRESENCE_GATEWAY_HEARTBEAT_V1, 0)
                    / args.gateways
                    / (steady_s / HEARTBEAT_S),
                    2,
                ),
                "changes_out": changes,
                "changes_out_per_s": round(changes / steady_s, 1),
                # One heartbeat per gateway per 10 s, one signal and one change per transition.
                "expected_total": 2 * transitions
                + signals.get(names.PRESENCE_GATEWAY_HEARTBEAT_V1, 0),
                "actual_total": sum(signals.values()) + changes,
            },
            "presence_cpu_percent_of_one_core": {
                "mean": round(cpu_s / steady_s * 100, 1),
                # Per transition handled: comparable between runs that kept up and runs that
                # fell behind (a service that falls behind also spends less CPU per second).
                "ms_per_transition": round(cpu_s / transitions * 1000, 3) if transitions else None,
                # Kernel time is mostly loopback socket I/O (each AMQP frame written is a send).
                "user_s": round(cpu_times_after.user - cpu_times_before.user, 2),
                "system_s": round(cpu_times_after.system - cpu_times_before.system, 2),
                "samples_p50": percentile(cpu, 0.5),
                "samples_max": max(cpu) if cpu else None,
            },
            "generator_cpu_percent_of_one_core": round(
                (
                    my_times_after.user
                    + my_times_after.system
                    - my_times_before.user
                    - my_times_before.system
                )
                / steady_s
                * 100,
                1,
            ),
            "presence_rss_mb": round(process.memory_info().rss / 2**20, 1),
        },
    }


def worst_seconds(
    sent_times: list[float], latencies: list[float], started: float, top: int = 5
) -> list[list[float]]:
    per_second: dict[int, list[float]] = {}
    for sent, latency in zip(sent_times, latencies, strict=True):
        per_second.setdefault(int(sent - started), []).append(latency)
    ranked = sorted(per_second.items(), key=lambda item: max(item[1]), reverse=True)[:top]
    return [[second, round(max(values) * 1000, 1), len(values)] for second, values in ranked]


def git_commit() -> str | None:
    """The checkout measured (read-only git call); uncommitted edits are not in it."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.decode().strip() or None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=100, help="connects and disconnects per s")
    parser.add_argument("--gateways", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup-timeout", type=float, default=120.0)
    parser.add_argument("--port", type=int, default=18404, help="presence-service HTTP port")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    async with (
        temporary_database("presence_bench", admin_dsn=args.admin_dsn) as database_url,
        temporary_vhost("presence-bench", amqp_url=args.amqp_url) as amqp_url,
        auth_stand_in(amqp_url),
        presence_service(
            amqp_url,
            database_url,
            args.port,
            Path(tempfile.gettempdir()) / "presence-bench.log",
        ) as process,
    ):
        result = await run(args, amqp_url, process)
    out = args.out or RESULTS / f"presence-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    asyncio.run(main())
