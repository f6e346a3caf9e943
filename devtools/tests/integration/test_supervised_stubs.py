"""The supervised runner of `make run`, with stub services on free ports and the real nginx edge:
a killed service comes back and the console says so; one that keeps crashing is given up on."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from chat_devtools.nginx import find_nginx
from chat_devtools.stack import Stack, StackError
from chat_devtools.stub_stack import STUB, stub_config
from chat_devtools.supervised import Supervisor, Watcher, programs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed (make setup)"),
]



class Said:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Supervisor, Watcher, Said]]:
    config = stub_config(tmp_path, ready_timeout_s=20)
    supervisor = Supervisor(config, programs(config), start_retries=1)
    supervisor.start()
    said = Said()
    watcher = Watcher(supervisor, Stack(config).ready_urls(), config.logs, out=said)
    try:
        yield supervisor, watcher, said
    finally:
        supervisor.stop()


def test_a_killed_service_comes_back_and_stop_leaves_nothing(
    supervised: tuple[Supervisor, Watcher, Said],
) -> None:
    supervisor, watcher, said = supervised
    watcher.wait_ready(20)
    victim = supervisor.infos()["message"]["pid"]
    os.kill(victim, signal.SIGKILL)  # our own stub, started by this test's supervisord
    killed = time.monotonic()
    with httpx.Client(trust_env=False) as client:
        while not any("message is back" in line for line in said.lines):
            assert time.monotonic() - killed < 5, said.lines
            watcher.poll(client)
            time.sleep(0.1)
    assert any(f"message (pid {victim}) exited" in line for line in said.lines), said.lines
    assert supervisor.infos()["message"]["pid"] != victim
    assert (supervisor.config.logs / "edge-access.log").is_file()

    tree = psutil.Process(supervisor.popen.pid if supervisor.popen else 0)
    pids = [tree.pid, *(p.pid for p in tree.children(recursive=True))]
    assert len(pids) >= 7, pids  # supervisord, nginx master + worker, four stubs
    supervisor.stop()
    time.sleep(0.2)
    left = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert left == []


def test_a_service_that_keeps_crashing_is_given_up_on(tmp_path: Path) -> None:
    config = stub_config(tmp_path, ready_timeout_s=20)
    crashing = ("/usr/bin/env", "STUB_EXIT=3", *STUB)
    services = tuple(
        replace(s, command=crashing) if s.name == "presence" else s for s in config.services
    )
    config = replace(config, services=services)
    supervisor = Supervisor(config, programs(config), start_retries=1)
    supervisor.start()
    try:
        watcher = Watcher(supervisor, Stack(config).ready_urls(), config.logs)
        with pytest.raises(StackError, match="presence kept exiting while starting"):
            watcher.wait_ready(20)
        assert supervisor.infos()["presence"]["statename"] == "FATAL"
    finally:
        supervisor.stop()
