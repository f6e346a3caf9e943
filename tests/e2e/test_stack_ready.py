"""`make run` brings the whole product up the way a person starts it, and Ctrl-C takes it down.

Runs alone (see the Makefile's test-e2e) because it needs the standard ports to itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from chat_devtools.config import find_repo_root
from chat_devtools.stack import STANDARD_PORTS, probe_standard_stack

pytestmark = pytest.mark.e2e

EDGE = "http://127.0.0.1:8080"
READY_LINE = "Chat is running at http://localhost:8080"
# make run includes `make setup`, which may build the frontend on a fresh checkout.
START_TIMEOUT_S = float(os.environ.get("CHAT_E2E_START_TIMEOUT", "300"))
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def check_stack_serves(client: httpx.Client) -> None:
    for name, port in STANDARD_PORTS.items():
        response = client.get(f"http://127.0.0.1:{port}/readyz")
        assert response.status_code == 200, f"{name} /readyz: {response.status_code}"
    page = client.get(f"{EDGE}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower() or "<!doctype html" in page.text.lower()
    for header, value in SECURITY_HEADERS.items():
        assert page.headers.get(header) == value, f"{header} missing or wrong on /"
    csp = page.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    # A deep link of the single-page app gets the same index.html.
    deep = client.get(f"{EDGE}/rooms/some-room")
    assert deep.status_code == 200
    assert deep.text == page.text


class OutputWatcher:
    """Collects a process's output on a thread and signals when a given line shows up."""

    def __init__(self, proc: subprocess.Popen[str], needle: str) -> None:
        self.lines: list[str] = []
        self.found = threading.Event()
        self._needle = needle
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if self._needle in line:
                self.found.set()

    def text(self, last: int = 60) -> str:
        return "\n".join(self.lines[-last:])


@pytest.fixture
def make_run() -> Iterator[tuple[subprocess.Popen[str], OutputWatcher]]:
    root: Path = find_repo_root(Path(__file__).parent)
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
        env={**os.environ, "CHAT_SETUP_BROWSER": os.environ.get("CHAT_SETUP_BROWSER", "0")},
    )
    watcher = OutputWatcher(proc, READY_LINE)
    try:
        yield proc, watcher
    finally:
        if proc.poll() is None:  # the test failed half-way: do not leave the stack behind
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_make_run_serves_everything_and_ctrl_c_stops_it(
    make_run: tuple[subprocess.Popen[str], OutputWatcher],
) -> None:
    proc, watcher = make_run
    deadline = time.monotonic() + START_TIMEOUT_S
    while not watcher.found.wait(0.5):
        assert proc.poll() is None, f"make run exited with {proc.returncode}:\n{watcher.text()}"
        assert time.monotonic() < deadline, f"no {READY_LINE!r} in time:\n{watcher.text()}"

    with httpx.Client(timeout=5.0, trust_env=False) as client:
        check_stack_serves(client)

    pids = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    assert len(pids) >= 6, f"expected nginx + 4 services under make run, got {pids}"

    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make run did not stop within 60 s of Ctrl-C:\n{watcher.text()}")
    # make itself re-raises the SIGINT it got (-2), as interrupted programs should; the stack
    # under it must have stopped cleanly.
    assert code in (0, -signal.SIGINT), f"make run exited with {code}:\n{watcher.text()}"
    assert watcher.lines[-1] == "Stopped.", watcher.text()
    survivors = [pid for pid in pids if psutil.pid_exists(pid) and _alive(pid)]
    assert survivors == [], f"processes left running after Ctrl-C: {survivors}"
    assert all(code is None for code in probe_standard_stack().values())


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(autouse=True)
def _standard_ports_free() -> None:
    """This test needs the standard ports. A developer's running stack is checked, not hidden."""
    status = probe_standard_stack()
    taken = {name: code for name, code in status.items() if code is not None}
    if not taken:
        return
    if os.environ.get("CI"):
        pytest.fail(f"standard ports already answer in CI: {taken}")
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        check_stack_serves(client)  # a failure here fails the test, it is not skipped
    pytest.skip(f"a stack already runs on the standard ports ({taken}): it serves correctly, "
                "but `make run` cannot be started beside it; stop it to run the full test")
