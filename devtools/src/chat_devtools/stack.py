"""The whole product on this machine: nginx edge + every service process.

`python -m chat_devtools.stack run` is what `make run` does: `Stack.prepare` and `edge_argv`
here, the processes under supervisord (`chat_devtools.supervised`, restarted when they crash).
Tests and benchmarks use `Stack` itself (through the pytest plugin) with other ports, stub
services or private broker/database URLs: its processes stay dead when killed (ADR 0006).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from chat_devtools import accounts, infra, nginx
from chat_devtools.config import ServiceSpec, StackConfig, config_from_env
from chat_devtools.processes import ManagedProcess

EDGE = "edge"


class StackError(RuntimeError):
    """The stack could not be prepared or started; the message says why and what to look at."""


def edge_argv(config: StackConfig, *, log_to_std: bool = False) -> list[str]:
    """Render the local nginx config, have nginx check it, return its foreground command.

    log_to_std: access log on stdout and error log on stderr (a supervisor writes and rotates
    them); otherwise nginx writes var/log/edge-access.log and edge-error.log itself.
    """
    binary = nginx.find_nginx(config.nginx_binary)
    if binary is None:
        raise StackError("nginx is not installed: run `make setup` (apt-get install nginx).")
    work = config.run / "nginx"
    error_log: Path | str = config.logs / "edge-error.log"
    overrides: dict[str, str] = {}
    if log_to_std:
        error_log = "/dev/stderr"
        overrides = {"EDGE_ACCESS_LOG": "/dev/stdout", "EDGE_ERROR_LOG": "/dev/stderr"}
    conf = nginx.write_local_config(config, work, overrides)
    argv = nginx.nginx_argv(binary, work, conf, error_log)
    check = subprocess.run(
        [*argv[:-2], "-t", "-q"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check.returncode != 0:
        raise StackError(f"nginx rejected {conf}:\n{check.stderr.strip()}")
    return argv


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes: dict[str, ManagedProcess] = {}
        self._ports: dict[str, int] = {}
        for name, spec, port in config.replicas():
            self.processes[name] = ManagedProcess(
                name=name,
                argv=spec.argv(),
                log_path=config.logs / f"{name}.log",
                env=config.service_env(spec, port),
                cwd=config.root,
            )
            self._ports[name] = port

    # -- preparation ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Broker and database up (started if installed but stopped), databases, migrations;
        with `service_accounts` also each service's broker account and database role (ADR
        0015) and the shared broker topology, which service accounts may not declare."""
        cfg = self.config
        try:
            infra.ensure_rabbitmq(cfg.amqp_url)
            if cfg.own_accounts:
                self._broker_accounts()
            dbs = [(s, cfg.database_url_for(s)) for s in cfg.services if s.database]
            if dbs:
                infra.ensure_postgres(cfg.postgres_url)
            for spec, url in dbs:
                assert url is not None
                assert spec.database is not None
                infra.create_database(url)
                role = cfg.database_role(spec) if cfg.own_accounts else None
                if role is not None:
                    password = accounts.dev_password(role)
                    accounts.ensure_database_role(url, spec.database, role, password)
                    url = accounts.with_credentials(url, role, password)
                if cfg.migrate:
                    self._migrate(spec, url)
        except infra.InfraError as exc:
            raise StackError(str(exc)) from exc

    def _broker_accounts(self) -> None:
        cfg = self.config
        mine = cfg.broker_accounts()
        passwords = {a.user: accounts.dev_password(a.user) for a in mine}
        accounts.apply_broker_accounts(mine, accounts.vhost_of(cfg.amqp_url), passwords)
        setting = {**os.environ, **cfg.env}
        accounts.declare_shared_topology(
            cfg.amqp_url,
            shards=int(setting.get("CHAT_SEND_SHARDS", "8")),
            delivery_limit=int(setting.get("CHAT_DELIVERY_LIMIT", "5")),
        )

    def _migrate(self, spec: ServiceSpec, url: str) -> None:
        ini = self.config.root / f"{spec.name}-service" / "alembic.ini"
        if not ini.is_file():
            where = ini.relative_to(self.config.root)
            sys.stderr.write(f"{spec.name}: no {where}, skipping migrations\n")
            return
        infra.run_migrations(ini, url, log_path=self.config.logs / "migrations.log")

    # -- start / stop --------------------------------------------------------------------------
    def start(self) -> None:
        """Edge and every service; returns once every /readyz is 200 (else StackError, stopped)."""
        self.config.logs.mkdir(parents=True, exist_ok=True)
        self.check_ports_free()
        try:
            if self.config.edge_port is not None:
                self._start_edge()
            for proc in self.processes.values():
                if proc.name != EDGE:
                    proc.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def check_ports_free(self) -> None:
        """Something else on our ports would answer /readyz for us: refuse to start instead."""
        wanted = {name: port for name, port in self._ports.items() if name not in self.pids()}
        if self.config.edge_port is not None and EDGE not in self.pids():
            wanted[EDGE] = self.config.edge_port
        busy = {n: p for n, p in wanted.items() if infra.port_open(self.config.host, p, 0.5)}
        if busy:
            listing = ", ".join(f"{n} {p}" for n, p in sorted(busy.items()))
            raise StackError(
                f"ports already in use ({listing}): is another stack running (make run)? "
                "Stop it first."
            )

    def _start_edge(self) -> None:
        edge = ManagedProcess(
            name=EDGE,
            argv=edge_argv(self.config),
            log_path=self.config.logs / "edge.log",
            cwd=self.config.root,
        )
        self.processes = {EDGE: edge, **self.processes}
        edge.start()

    def ready_urls(self) -> dict[str, str]:
        urls = {name: f"http://127.0.0.1:{port}/readyz" for name, port in self._ports.items()}
        if self.config.edge_port is not None:
            urls[EDGE] = f"http://127.0.0.1:{self.config.edge_port}/_edge/health"
        return urls

    def wait_ready(self, names: list[str] | None = None, timeout: float | None = None) -> None:
        """Poll every /readyz until 200; fail fast when a process exits, with its log tail."""
        pending = dict(self.ready_urls())
        if names is not None:
            pending = {n: u for n, u in pending.items() if n in names}
        limit = self.config.ready_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        last: dict[str, str] = dict.fromkeys(pending, "no answer yet")
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while pending:
                for name, url in list(pending.items()):
                    proc = self.processes.get(name)
                    if proc is not None and not proc.running:
                        raise StackError(
                            f"{name} exited with code {proc.returncode} before it was ready; "
                            f"last lines of {proc.log_path}:\n{proc.log_tail()}"
                        )
                    try:
                        response = client.get(url)
                    except httpx.HTTPError as exc:
                        last[name] = f"{type(exc).__name__}"
                        continue
                    if response.status_code == 200:
                        del pending[name]
                    else:
                        last[name] = f"HTTP {response.status_code} {response.text[:200]}"
                if not pending:
                    break
                if time.monotonic() > deadline:
                    details = "\n".join(
                        f"--- {n}: {last[n]}; last lines of {self.processes[n].log_path}:\n"
                        f"{self.processes[n].log_tail(20)}"
                        for n in pending
                        if n in self.processes
                    )
                    raise StackError(
                        f"not ready after {limit:.0f}s: {', '.join(sorted(pending))}\n{details}"
                    )
                time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM every process we started (services first, edge last), SIGKILL stragglers."""
        services = [p for n, p in self.processes.items() if n != EDGE]
        for proc in services:
            if proc.running and proc.popen is not None:
                proc.popen.send_signal(signal.SIGTERM)
        threads = [
            threading.Thread(target=p.stop, args=(self.config.stop_timeout_s,)) for p in services
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        edge = self.processes.get(EDGE)
        if edge is not None:
            edge.stop(self.config.stop_timeout_s)

    def kill(self, name: str) -> None:
        """SIGKILL one process (a crash, for fault tests)."""
        self._process(name).kill()

    def restart(self, name: str, *, wait: bool = True) -> None:
        proc = self._process(name)
        proc.stop(self.config.stop_timeout_s)
        proc.start()
        if wait:
            self.wait_ready([name])

    def _process(self, name: str) -> ManagedProcess:
        try:
            return self.processes[name]
        except KeyError:
            known = sorted(self.processes)
            raise StackError(f"no process named {name!r}; known: {known}") from None

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self.processes.items() if p.pid is not None and p.running}

    def dead(self) -> dict[str, int | None]:
        """Processes that exited although nobody stopped them."""
        return {n: p.returncode for n, p in self.processes.items() if p.popen and not p.running}

    def url(self, name: str) -> str:
        if name == EDGE:
            return f"http://127.0.0.1:{self.config.edge_port}"
        return f"http://127.0.0.1:{self._ports[name]}"

    @contextmanager
    def running(self, *, prepare: bool = True) -> Iterator[Stack]:
        if prepare:
            self.prepare()
        self.start()
        try:
            yield self
        finally:
            self.stop()


# -- command line ------------------------------------------------------------------------------
STANDARD_PORTS = {"auth": 8001, "gateway": 8002, "message": 8003, "presence": 8004, "file": 8005}


def probe_standard_stack(edge_port: int = 8080) -> dict[str, int | None]:
    """Status of the edge `/` and of each /readyz on the standard ports (None: no answer)."""
    result: dict[str, int | None] = {}
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        urls = {EDGE: f"http://127.0.0.1:{edge_port}/"}
        urls.update({n: f"http://127.0.0.1:{p}/readyz" for n, p in STANDARD_PORTS.items()})
        for name, url in urls.items():
            try:
                result[name] = client.get(url).status_code
            except httpx.HTTPError:
                result[name] = None
    return result


def exec_with_stack(config: StackConfig, command: list[str]) -> int:
    """Run a command against the stack: the one already running, else one started for it."""
    status = probe_standard_stack(config.edge_port or 8080)
    stack: Stack | None = None
    if any(code is None for code in status.values()):
        stack = Stack(config)
        try:
            stack.prepare()
            stack.start()
        except StackError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 1
    try:
        return subprocess.run(command, check=False, cwd=config.root).returncode
    finally:
        if stack is not None:
            stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_devtools.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="prepare, start everything supervised, block until Ctrl-C")
    sub.add_parser("prepare", help="broker/database reachable, databases created, migrations run")
    render = sub.add_parser("render-nginx", help="write the local nginx config and print its path")
    render.add_argument("--out", type=Path, default=None)
    execute = sub.add_parser("exec", help="run a command with the stack up (reused or started)")
    execute.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    config = config_from_env()
    if args.command == "run":
        # make run: the same services and edge, supervised (restarted when they crash).
        from chat_devtools import supervised

        return supervised.run(config)
    if args.command == "exec":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            parser.error("exec needs a command, e.g. exec -- npm --prefix frontend run e2e")
        return exec_with_stack(config, cmd)
    if args.command == "prepare":
        try:
            Stack(config).prepare()
        except StackError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 1
        return 0
    path = nginx.write_local_config(config, args.out or config.run / "nginx")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
