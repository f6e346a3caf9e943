"""A stack of stand-in services (`chat_devtools.stub_service`) on free ports, for testing the
tooling itself (the stack runner, the supervisor, edge routing) without the real services."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from chat_devtools.config import StackConfig, default_services, find_repo_root
from chat_devtools.private import free_port

STUB = (sys.executable, "-m", "chat_devtools.stub_service")


def stub_config(
    tmp_path: Path, *, gateways: int = 1, ready_timeout_s: float = 15.0, **env: str
) -> StackConfig:
    services = default_services(
        auth=(free_port(),),
        gateway=tuple(free_port() for _ in range(gateways)),
        message=(free_port(),),
        presence=(free_port(),),
        file=(free_port(),),
    )
    dist = tmp_path / "dist"
    dist.mkdir(exist_ok=True)
    (dist / "index.html").write_text("<!doctype html><html><title>chat</title></html>")
    return StackConfig(
        root=find_repo_root(Path(__file__).parent),
        services=tuple(replace(s, command=STUB) for s in services),
        edge_port=free_port(),
        log_dir=tmp_path / "log",
        run_dir=tmp_path / "run",
        frontend_dir=dist,
        env=env,
        ready_timeout_s=ready_timeout_s,
        stop_timeout_s=5,
        migrate=False,
    )
