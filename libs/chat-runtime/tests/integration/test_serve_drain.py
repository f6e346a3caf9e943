"""`serve(..., drain=...)`: the first SIGTERM runs the drain while the server keeps answering,
then the usual shutdown; a second signal during the drain stops at once. A real process on a
private port (block 286xx, no lock needed)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.integration

PORT_BLOCK = range(28640, 28660)

PROGRAM = """
import asyncio, sys
from chat_runtime.host import serve
from chat_runtime.settings import BaseServiceSettings

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                print("lifespan-shutdown", flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

async def drain(the_app):
    assert the_app is app
    print("drain-start", flush=True)
    await asyncio.sleep(float(sys.argv[2]))
    print("drain-end", flush=True)

serve(BaseServiceSettings(port=int(sys.argv[1]), service_name="drain-test"), lambda: app,
      drain=drain, timeout_graceful_shutdown=2)
"""


def free_port() -> int:
    for port in PORT_BLOCK:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {PORT_BLOCK}")


@pytest.fixture
def server(tmp_path: object) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, str(port), "1.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CHAT_LOG_LEVEL": "WARNING"},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def lines(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    return [line.strip() for line in proc.stdout.read().splitlines()]


def test_sigterm_drains_while_serving_then_shuts_down(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = server
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # Draining: still running and still answering.
    assert proc.poll() is None
    assert httpx.get(url, timeout=2).status_code == 200
    proc.wait(15)
    took = time.monotonic() - sent
    out = lines(proc)
    mine = [line for line in out if line in ("drain-start", "drain-end", "lifespan-shutdown")]
    assert mine == ["drain-start", "drain-end", "lifespan-shutdown"], out
    assert took >= 1.0
    assert proc.returncode in (0, -signal.SIGTERM)


def test_a_second_signal_during_the_drain_stops_at_once(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    proc, _ = server
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert time.monotonic() - sent < 1.2
    out = lines(proc)
    assert "drain-start" in out, out
    assert "drain-end" not in out, out
