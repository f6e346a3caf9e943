"""`make run` heals itself: each service killed with -9 is back within 5 s (issue 21).

The runner of `make run` (`python -m chat_devtools.stack run`, supervised; `make setup` is left
out to save time) on the standard ports, a client sending over the WebSocket through the edge the
whole time. gateway, message, presence, then auth are killed one after the other; each must
answer /readyz 200 again within 5 s of its kill, the console must say it restarted it, and every
message the client saw acknowledged must be in the room's history exactly once. auth goes last:
a service starting up loads the session revocations from auth-service before it reports ready.

Runs with test_stack_ready.py, before the shared-stack tier (see the Makefile's test-e2e).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from chat_devtools.config import config_from_env, find_repo_root
from chat_devtools.stack import STANDARD_PORTS, probe_standard_stack
from chat_devtools.supervised import connect, socket_path
from websockets.exceptions import WebSocketException

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    Socket,
    User,
    authenticated_socket,
    open_edge,
    unique_name,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

EDGE = "http://localhost:8080"
READY_LINE = "Chat is running at http://localhost:8080"
START_TIMEOUT_S = float(os.environ.get("CHAT_E2E_START_TIMEOUT", "180"))
BACK_WITHIN_S = 5.0
VICTIMS = ("gateway", "message", "presence", "auth")
ACK_TIMEOUT_S = 6.0


class Console:
    """The runner's output, collected on a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if READY_LINE in line:
                self.ready.set()

    def text(self, last: int = 60) -> str:
        return "\n".join(self.lines[-last:])

    def said(self, *parts: str) -> bool:
        return any(all(p in line for p in parts) for line in self.lines)


@pytest.fixture(autouse=True)
def _standard_ports_free() -> None:
    taken = {n: c for n, c in probe_standard_stack().items() if c is not None}
    if not taken:
        return
    if os.environ.get("CI"):
        pytest.fail(f"standard ports already answer in CI: {taken}")
    pytest.skip(f"a stack already runs on the standard ports ({taken}): stop it to run this test")


@pytest.fixture
def supervised_run() -> Iterator[tuple[subprocess.Popen[str], Console]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "chat_devtools.stack", "run"],
        cwd=find_repo_root(Path(__file__).parent),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    console = Console(proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not console.ready.wait(0.5):
            assert proc.poll() is None, f"runner exited with {proc.returncode}:\n{console.text()}"
            assert time.monotonic() < deadline, f"no {READY_LINE!r} in time:\n{console.text()}"
        yield proc, console
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


SUPERVISOR_SOCKET = socket_path(config_from_env(find_repo_root(Path(__file__).parent)))


def supervised_pid(name: str) -> int:
    info: dict[str, Any] = connect(SUPERVISOR_SOCKET).supervisor.getProcessInfo(name)
    return int(info["pid"])


class Sender:
    """One client sending over the WebSocket, one message in flight, through kills.

    A socket that closes is reopened; a message whose ack does not come is sent again with the
    same client_msg_id (api-v1: one message however often it is retried).
    """

    def __init__(self, user: User, room_id: str) -> None:
        self.user = user
        self.room_id = room_id
        self.acked: dict[str, str] = {}  # client_msg_id -> message id
        self.stop = asyncio.Event()

    async def _connect(self) -> Socket | None:
        try:
            return await authenticated_socket(self.user.edge.ws_url, self.user.token, timeout=3.0)
        except (OSError, TimeoutError, AssertionError, WebSocketException):
            await asyncio.sleep(0.2)
            return None

    async def run(self) -> None:
        socket: Socket | None = None
        pending: str | None = None
        try:
            while not self.stop.is_set():
                if socket is None or socket.closed:
                    if socket is not None:
                        await socket.close()
                    socket = await self._connect()
                    continue
                cmid = pending or str(uuid.uuid4())
                pending = cmid
                try:
                    await socket.send_message(self.room_id, f"heal {len(self.acked)}", cmid)
                    message = await socket.wait_ack(cmid, ACK_TIMEOUT_S)
                except WebSocketException:
                    # Closed. Reconnect now: the reader may not have marked the socket closed
                    # yet, and a send that fails at once never yields, so retrying on it would
                    # spin without letting anything else run (seen once: a 10 GB busy loop).
                    await socket.close()
                    socket = None
                    continue
                except AssertionError:
                    continue  # no ack yet: the same client_msg_id again
                self.acked[cmid] = str(message["id"])
                pending = None
                await asyncio.sleep(0.05)
        finally:
            if socket is not None:
                await socket.close()

    async def wait_acks(self, more: int, timeout: float) -> None:
        target = len(self.acked) + more
        deadline = time.monotonic() + timeout
        while len(self.acked) < target:
            assert time.monotonic() < deadline, f"no {more} acks within {timeout} s"
            await asyncio.sleep(0.05)


async def kill_and_time_recovery(name: str, client: httpx.AsyncClient) -> float:
    """SIGKILL the supervised process; seconds until a new one answers /readyz 200."""
    old = await asyncio.to_thread(supervised_pid, name)
    assert old > 0, f"{name} is not running"
    os.kill(old, signal.SIGKILL)  # a process of the runner this test started
    killed = time.monotonic()
    url = f"http://127.0.0.1:{STANDARD_PORTS[name]}/readyz"
    while True:
        waited = time.monotonic() - killed
        assert waited < BACK_WITHIN_S, f"{name} not ready again {BACK_WITHIN_S} s after kill -9"
        pid = await asyncio.to_thread(supervised_pid, name)
        if pid not in (0, old):
            try:
                if (await client.get(url, timeout=1.0)).status_code == 200:
                    return waited
            except httpx.HTTPError:
                pass
        await asyncio.sleep(0.05)


async def kill_each_service_while_sending() -> dict[str, float]:
    async with open_edge(EDGE) as edge, httpx.AsyncClient(trust_env=False) as client:
        user = await edge.new_user("heal")
        room_id = str((await user.create_room(unique_name("heal")))["id"])
        sender = Sender(user, room_id)
        task = asyncio.create_task(sender.run())
        took: dict[str, float] = {}
        try:
            for name in VICTIMS:
                await sender.wait_acks(3, 20.0)  # traffic flows before each kill
                took[name] = await kill_and_time_recovery(name, client)
            await sender.wait_acks(3, 20.0)
        finally:
            sender.stop.set()
            await task
        history = await user.history(room_id)
        counts = Counter(str(m["client_msg_id"]) for m in history)
        ids = [str(m["id"]) for m in history]
        assert len(set(ids)) == len(ids), "a message id appears twice in history"
        by_cmid = {str(m["client_msg_id"]): str(m["id"]) for m in history}
        for cmid, message_id in sender.acked.items():
            assert counts[cmid] == 1, f"acknowledged {cmid} is {counts[cmid]} times in history"
            assert by_cmid[cmid] == message_id, f"{cmid}: acked as {message_id}, stored otherwise"
        assert len(sender.acked) >= 3 * (len(VICTIMS) + 1)
        return took


def test_each_service_killed_is_back_within_5s_and_no_acked_message_is_lost(
    supervised_run: tuple[subprocess.Popen[str], Console],
    record_property: Callable[[str, object], None],
) -> None:
    proc, console = supervised_run
    took = asyncio.run(kill_each_service_while_sending())
    assert set(took) == set(VICTIMS), took
    record_property("ready_after_kill_s", {n: round(t, 2) for n, t in took.items()})
    deadline = time.monotonic() + 5.0
    for name in VICTIMS:
        while not console.said(name, "is back") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert console.said(f"{name} (pid", "restarts it"), console.text()
        assert console.said(name, "is back"), console.text()

    pids = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
    try:
        code = proc.wait(90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"runner did not stop within 90 s of Ctrl-C:\n{console.text()}")
    assert code == 0, console.text()
    assert console.lines[-1] == "Stopped.", console.text()
    survivors = [pid for pid in pids if _alive(pid)]
    assert survivors == [], f"processes left running after Ctrl-C: {survivors}"


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
