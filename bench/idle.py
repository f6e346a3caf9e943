"""Idle-connection benchmark: what N authenticated, silent WebSockets cost one gateway process.

Budget (messaging issue, Performance): 10 000 idle authenticated connections straight to one
gateway process cost <= 2 % of one core and <= 40 KB RSS each.

By default it runs a private stack on 127.0.0.1:18601-18603 (auth-service for tokens and JWKS,
gateway-service, message-service for the membership query; no presence-service and no edge) on a
temporary RabbitMQ vhost and temporary databases, all removed afterwards, so it never touches a
running stack. For every N given it restarts the gateway (a clean baseline), logs every user in,
opens N sockets from several client processes (the clients' CPU is not the gateway's), waits for
`ready` on each, lets the gateway settle, then measures the gateway process over an idle window
of --idle-s seconds (>= 60 s, so every socket is pinged at least twice at the 25 s interval):
CPU seconds (user + system, psutil) and RSS before and after. Clients do not ping (browsers
cannot) and send nothing while idle; they answer the server's pings.

    .venv/bin/python bench/idle.py --connections 2000 5000 10000 --idle-s 60

Bounded: every phase has a timeout, the whole run stops by itself; traffic only to 127.0.0.1.
Results: bench/results/idle-<UTC timestamp>.json (commit, command, machine, one entry per N).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PORTS = {"auth": 18601, "gateway": 18602, "message": 18603}
SUBPROTOCOL = "chat.v1"


# --- client worker (a separate process) --------------------------------------------------------


def _raise_nofile(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


async def _worker(url: str, tokens: list[str], count: int, concurrency: int, ping_s: float) -> None:
    """Open `count` sockets (tokens used round-robin), report, stay idle until stdin closes.

    With `ping_s` > 0 each socket sends the frontend's `{"type":"ping"}` every `ping_s`
    (what an idle browser tab does with `heartbeat_s`), spread evenly over the period.
    """
    import websockets

    _raise_nofile(count + 256)
    sockets: list[Any] = []
    failures: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)

    async def open_one(index: int) -> None:
        async with gate:
            for attempt in range(3):
                try:
                    ws = await websockets.connect(
                        url,
                        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                        ping_interval=None,  # browsers send no pings; only the server's count
                        compression=None,
                        open_timeout=30,
                        close_timeout=2,
                        max_queue=1024,  # pongs to the app-level pings are never read
                    )
                    token = tokens[index % len(tokens)]
                    await ws.send(json.dumps({"type": "auth", "token": token}))
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if frame.get("type") != "ready":
                        raise RuntimeError(f"got {frame.get('type')} {frame.get('code')} (retried)")
                    sockets.append(ws)
                    return
                except Exception as exc:
                    key = str(exc) if isinstance(exc, RuntimeError) else type(exc).__name__
                    failures[key] = failures.get(key, 0) + 1
                    await asyncio.sleep(0.5 * (attempt + 1))

    started = time.monotonic()
    await asyncio.gather(*(open_one(i) for i in range(count)))
    _emit(
        {
            "event": "ready",
            "open": len(sockets),
            "failures": failures,
            "connect_s": round(time.monotonic() - started, 2),
        }
    )
    # Idle: the websockets library answers the server's pings in the background.
    pinger = asyncio.create_task(_app_pings(sockets, ping_s)) if ping_s > 0 else None
    await asyncio.to_thread(sys.stdin.readline)
    if pinger is not None:
        pinger.cancel()
    still_open = sum(1 for ws in sockets if ws.state.name == "OPEN")
    _emit({"event": "done", "still_open": still_open, "open": len(sockets)})
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def _app_pings(sockets: list[Any], ping_s: float) -> None:
    slices = 50
    while True:
        for i in range(slices):
            for ws in sockets[i::slices]:
                with contextlib.suppress(Exception):
                    await ws.send('{"type":"ping"}')
            await asyncio.sleep(ping_s / slices)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# --- orchestration -----------------------------------------------------------------------------


class Worker:
    """One client process; speaks JSON lines on stdout, stops when its stdin is closed."""

    def __init__(
        self, url: str, tokens_file: Path, count: int, concurrency: int, ping_s: float
    ) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                url,
                str(tokens_file),
                str(count),
                str(concurrency),
                str(ping_s),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def read_event(self, limit_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), limit_s)
        if not line:
            raise RuntimeError(f"client worker {self.proc.pid} exited ({self.proc.poll()})")
        result: dict[str, Any] = json.loads(line)
        return result

    def release(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()

    def stop(self) -> None:
        self.release()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its handle
            self.proc.wait(5)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "gateway-service"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip() + ("+dirty(gateway-service)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            platform.processor(),
        ),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "note": "shared 2-core machine: other engineers' processes run at the same time",
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("uvicorn", "websockets", "uvloop", "aio-pika")}


async def _register_users(http: httpx.AsyncClient, count: int) -> list[dict[str, str]]:
    tag = uuid.uuid4().hex[:6]
    users = []
    for i in range(count):
        name = f"idle_{tag}_{i}"
        password = f"idle-bench-{uuid.uuid4().hex}"
        response = await http.post(
            f"http://127.0.0.1:{PORTS['auth']}/v1/auth/register",
            json={"username": name, "display_name": name, "password": password},
        )
        response.raise_for_status()
        users.append({"username": name, "password": password})
    return users


async def _login_all(http: httpx.AsyncClient, users: list[dict[str, str]]) -> list[str]:
    gate = asyncio.Semaphore(4)

    async def login(user: dict[str, str]) -> str:
        async with gate:
            response = await http.post(f"http://127.0.0.1:{PORTS['auth']}/v1/auth/login", json=user)
            response.raise_for_status()
            token: str = response.json()["access_token"]
            return token

    return list(await asyncio.gather(*(login(u) for u in users)))


async def _give_rooms(http: httpx.AsyncClient, tokens: list[str], rooms_each: int) -> None:
    """A few rooms per user, so the gateway holds real room bindings as it would in use."""
    for token in tokens:
        for _ in range(rooms_each):
            response = await http.post(
                f"http://127.0.0.1:{PORTS['message']}/v1/rooms",
                json={"name": f"idle-{uuid.uuid4().hex[:8]}", "visibility": "public"},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()


def _start_profiler(pid: int, n: int, args: Any) -> subprocess.Popen[bytes] | None:
    """py-spy over the idle window (collapsed stacks), to find what idle sockets cost."""
    if args.profile is None:
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(args.idle_s)),
            "--rate",
            "250",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(args.profile / f"idle-{n}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _sample(proc: psutil.Process) -> tuple[float, int]:
    cpu = proc.cpu_times()
    return cpu.user + cpu.system, proc.memory_info().rss


async def _measure(
    stack: Any,
    http: httpx.AsyncClient,
    users: list[dict[str, str]],
    n: int,
    args: Any,
    workdir: Path,
) -> dict[str, Any]:
    await asyncio.to_thread(stack.restart, "gateway")  # a fresh process: a clean RSS baseline
    pid = stack.pids()["gateway"]
    gw = psutil.Process(pid)
    limit = gw.rlimit(psutil.RLIMIT_NOFILE)
    if limit[0] < n + 512:
        gw.rlimit(psutil.RLIMIT_NOFILE, (max(limit[1], n + 512), max(limit[1], n + 512)))
    tokens = await _login_all(http, users)  # fresh tokens (15 min lifetime) for this phase
    tokens_file = workdir / f"tokens-{n}.json"
    tokens_file.write_text(json.dumps(tokens))
    await asyncio.sleep(args.settle_s)
    cpu0, rss_base = _sample(gw)
    url = f"ws://127.0.0.1:{PORTS['gateway']}/v1/ws"
    per = [n // args.workers + (1 if i < n % args.workers else 0) for i in range(args.workers)]
    workers = [
        Worker(url, tokens_file, c, args.concurrency, args.client_ping_s) for c in per if c > 0
    ]
    try:
        t0 = time.monotonic()
        ready = [await w.read_event(args.connect_timeout_s) for w in workers]
        connect_s = time.monotonic() - t0
        cpu1, _ = _sample(gw)
        opened = sum(r["open"] for r in ready)
        failures: dict[str, int] = {}
        for r in ready:
            for k, v in r["failures"].items():
                failures[k] = failures.get(k, 0) + v
        await asyncio.sleep(args.settle_s)
        cpu_start, rss_start = _sample(gw)
        wall_start = time.monotonic()
        profiler = _start_profiler(pid, n, args)
        samples: list[dict[str, float]] = []
        while time.monotonic() - wall_start < args.idle_s:
            await asyncio.sleep(min(10.0, args.idle_s - (time.monotonic() - wall_start)))
            cpu_now, rss_now = _sample(gw)
            samples.append(
                {
                    "t_s": round(time.monotonic() - wall_start, 1),
                    "cpu_s": round(cpu_now - cpu_start, 3),
                    "rss_mib": round(rss_now / 2**20, 1),
                }
            )
        cpu_end, rss_end = _sample(gw)
        wall = time.monotonic() - wall_start
        if profiler is not None:
            profiler.wait(30)
        load = os.getloadavg()
        for w in workers:
            w.release()
        done = [await w.read_event(30) for w in workers]
    finally:
        for w in workers:
            w.stop()
    still_open = sum(d["still_open"] for d in done)
    cpu_pct = 100 * (cpu_end - cpu_start) / wall
    rss_per = (rss_end - rss_base) / max(opened, 1)
    return {
        "connections_requested": n,
        "connections_ready": opened,
        "connect_failures": failures,
        "still_open_after_idle": still_open,
        "users": len(users),
        "connections_per_user": round(opened / len(users), 1),
        "connect_s": round(connect_s, 1),
        "gateway_cpu_s_while_connecting": round(cpu1 - cpu0, 2),
        "idle_window_s": round(wall, 1),
        "gateway_idle_cpu_s": round(cpu_end - cpu_start, 3),
        "gateway_idle_cpu_percent_of_one_core": round(cpu_pct, 3),
        "gateway_rss_mib": {
            "before_connect": round(rss_base / 2**20, 1),
            "idle_start": round(rss_start / 2**20, 1),
            "idle_end": round(rss_end / 2**20, 1),
        },
        "rss_per_connection_kib": round(rss_per / 1024, 2),
        "rss_per_connection_kb": round(rss_per / 1000, 2),
        "samples": samples,
        "loadavg_1_5_15_at_end": [round(x, 2) for x in load],
        "budget": {"cpu_percent_at_10000": 2.0, "rss_kb_per_connection": 40.0},
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from chat_devtools.config import default_services
    from chat_devtools.stack import Stack
    from chat_runtime.testing import temporary_database, temporary_vhost
    from stack_config import bench_stack_config

    workdir = Path(tempfile.mkdtemp(prefix="idle-bench-"))
    async with (
        temporary_vhost("idle-bench") as amqp_url,
        temporary_database("idle_auth") as auth_db,
        temporary_database("idle_messages") as msg_db,
    ):
        services = tuple(
            s
            for s in default_services(
                auth=(PORTS["auth"],), gateway=(PORTS["gateway"],), message=(PORTS["message"],)
            )
            if s.name != "presence"
        )
        config = bench_stack_config(
            root=ROOT,
            services=services,
            amqp_url=amqp_url,
            database_urls={"chat_auth": auth_db, "chat_messages": msg_db},
            edge_port=None,
            workdir=workdir,
            env={"CHAT_LOG_LEVEL": "WARNING", **dict(kv.split("=", 1) for kv in args.gateway_env)},
            ready_timeout_s=90.0,
        )
        stack = Stack(config)
        await asyncio.to_thread(stack.prepare)
        await asyncio.to_thread(stack.start)
        try:
            async with httpx.AsyncClient(timeout=30.0, trust_env=False) as http:
                users = await _register_users(http, args.users)
                await _give_rooms(http, await _login_all(http, users), args.rooms_per_user)
                runs = []
                for n in args.connections:
                    result = await _measure(stack, http, users, n, args, workdir)
                    sys.stderr.write(
                        json.dumps({k: v for k, v in result.items() if k != "samples"}) + "\n"
                    )
                    runs.append(result)
        finally:
            await asyncio.to_thread(stack.stop)
    return {
        "benchmark": "idle-connections",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "command": " ".join([".venv/bin/python", "bench/idle.py", *sys.argv[1:]]),
        "machine": _machine(),
        "versions": _versions(),
        "setup": {
            "stack": "private: auth, gateway, message on 127.0.0.1:18601-18603, temporary "
            "vhost and databases on the shared RabbitMQ/PostgreSQL; no presence-service, no edge",
            "users": args.users,
            "rooms_per_user": args.rooms_per_user,
            "note": "many connections share a user (connections_per_user); each has its own "
            "socket, session object, token expiry entry and heartbeat entry",
            "client_pings": (
                f'app-level {{"type":"ping"}} every {args.client_ping_s} s per socket (as the '
                "frontend does with heartbeat_s); clients also answer the server's pings"
                if args.client_ping_s > 0
                else "none (silent clients: they only answer the server's WebSocket pings)"
            ),
            "client_processes": args.workers,
            "gateway_env": args.gateway_env,
        },
        "runs": runs,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, tokens_file, count, concurrency, ping_s = sys.argv[2:7]
        tokens = json.loads(Path(tokens_file).read_text())
        asyncio.run(_worker(url, tokens, int(count), int(concurrency), float(ping_s)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, nargs="+", default=[2000, 5000, 10000])
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--settle-s", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rooms-per-user", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="client processes")
    parser.add_argument("--concurrency", type=int, default=32, help="handshakes in flight each")
    parser.add_argument("--connect-timeout-s", type=float, default=300.0)
    parser.add_argument(
        "--gateway-env",
        nargs="*",
        default=[],
        metavar="CHAT_X=value",
        help="extra environment for the services (e.g. a ping setting)",
    )
    parser.add_argument(
        "--client-ping-s",
        type=float,
        default=0.0,
        help="send the frontend's app-level ping this often per socket (0: never)",
    )
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="record py-spy collapsed stacks of the gateway over each idle window",
    )
    args = parser.parse_args()
    if args.idle_s < 60:
        sys.stderr.write("note: an idle window under 60 s may miss a ping round\n")
    result = asyncio.run(_run(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.output or RESULTS / f"idle-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    sys.stderr.write(f"wrote {out}\n")


if __name__ == "__main__":
    main()
