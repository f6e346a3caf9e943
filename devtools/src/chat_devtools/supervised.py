"""`make run` under supervisord: the edge and every service, restarted when they crash.

`python -m chat_devtools.stack run` prepares like `Stack` (broker, databases, migrations), writes
var/run/supervisord.conf and runs supervisord (PyPI `supervisor`) in the foreground as its child.
supervisord restarts a process that exits: at once after a crash, then with a growing delay
(1 s, 2 s, 3 s) while it dies again within START_SECS of starting, and it gives up after
START_RETRIES such failures (state FATAL). It writes each process's output to
var/log/<name>.log, rotated at LOG_MAX_BYTES with LOG_BACKUPS old files (the edge: nginx logs to
stdout/stderr, kept as edge-access.log / edge-error.log). This module watches supervisord over
its XML-RPC socket and says on the console what happened; Ctrl-C stops supervisord, which stops
the services, then the edge.

By hand, while it runs: `.venv/bin/supervisorctl -c var/run/supervisord.conf status`.
Tests and benchmarks keep `Stack`, whose processes stay dead when killed (ADR 0006).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from supervisor.xmlrpc import SupervisorTransport

from chat_devtools.config import StackConfig
from chat_devtools.processes import die_with_parent, tail
from chat_devtools.stack import EDGE, Stack, StackError, edge_argv

START_SECS = 3
START_RETRIES = 3
LOG_MAX_BYTES = "10MB"
LOG_BACKUPS = 5
# supervisord restarts a process that crashes after START_SECS forever (each start counts as a
# success); past CRASH_LIMIT crashes within CRASH_WINDOW_S the watcher stops it and says so.
CRASH_LIMIT = 5
CRASH_WINDOW_S = 120.0
POLL_S = 0.2
RUNNING_STATES = {"STARTING", "RUNNING"}


@dataclass(frozen=True)
class Program:
    """One process supervisord keeps running."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    log: Path
    error_log: Path | None = None  # None: stderr goes to `log` as well
    priority: int = 20  # lower starts first and stops last
    stop_signal: str = "TERM"


def programs(config: StackConfig) -> list[Program]:
    """The edge (its access log on stdout, error log on stderr) and every service replica."""
    result: list[Program] = []
    if config.edge_port is not None:
        result.append(
            Program(
                name=EDGE,
                argv=edge_argv(config, log_to_std=True),
                env={},
                log=config.logs / "edge-access.log",
                error_log=config.logs / "edge-error.log",
                priority=10,
            )
        )
    for name, spec, port in config.replicas():
        result.append(
            Program(
                name=name,
                argv=spec.argv(),
                env=config.service_env(spec, port),
                log=config.logs / f"{name}.log",
            )
        )
    return result


def _ini(value: str) -> str:
    """A value for supervisord's ini file, where `%` starts an expansion."""
    if "\n" in value:
        raise StackError(f"a supervisord setting cannot hold a line break: {value!r}")
    return value.replace("%", "%%")


def _environment(env: Mapping[str, str]) -> str:
    """supervisord's `environment=` syntax: KEY="value",... (a value cannot hold a `"`)."""
    pairs = []
    for key, value in sorted(env.items()):
        if '"' in value:
            raise StackError(f"{key}: a double quote cannot be passed through supervisord")
        pairs.append(f'{key}="{value}"')
    return _ini(",".join(pairs))


def _log_settings(kind: str, path: Path) -> list[str]:
    return [
        f"{kind}_logfile={_ini(str(path))}",
        f"{kind}_logfile_maxbytes={LOG_MAX_BYTES}",
        f"{kind}_logfile_backups={LOG_BACKUPS}",
    ]


def render_config(
    config: StackConfig, progs: list[Program], sock: Path, start_retries: int = START_RETRIES
) -> str:
    lines = [
        "; Written by chat_devtools.supervised at every `make run`: edit that, not this.",
        "[supervisord]",
        "nodaemon=true",
        # The console is chat_devtools' (it reports restarts); supervisord's log is a file.
        "silent=true",
        f"logfile={_ini(str(config.logs / 'supervisord.log'))}",
        f"logfile_maxbytes={LOG_MAX_BYTES}",
        f"logfile_backups={LOG_BACKUPS}",
        "loglevel=info",
        f"pidfile={_ini(str(config.run / 'supervisord.pid'))}",
        f"childlogdir={_ini(str(config.logs))}",
        "",
        "[unix_http_server]",
        f"file={_ini(str(sock))}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_ini(str(sock))}",
    ]
    for prog in progs:
        lines += [
            "",
            f"[program:{prog.name}]",
            f"command={_ini(shlex.join(prog.argv))}",
            f"directory={_ini(str(config.root))}",
            f"priority={prog.priority}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={START_SECS}",
            f"startretries={start_retries}",
            f"stopsignal={prog.stop_signal}",
            f"stopwaitsecs={int(config.stop_timeout_s)}",
            # Signals go to the process group: nothing a service started outlives it.
            "stopasgroup=true",
            "killasgroup=true",
            *_log_settings("stdout", prog.log),
        ]
        if prog.env:
            lines.append(f"environment={_environment(prog.env)}")
        if prog.error_log is None:
            lines.append("redirect_stderr=true")
        else:
            lines += _log_settings("stderr", prog.error_log)
    return "\n".join(lines) + "\n"


def socket_path(config: StackConfig) -> Path:
    return config.run / "supervisor.sock"


def connect(sock: Path) -> Any:
    """An XML-RPC proxy on supervisord's socket (`.supervisor.getAllProcessInfo()`, ...)."""
    return xmlrpc.client.ServerProxy(
        "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{sock}")
    )


def _socket_answers(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(sock))
        except OSError:
            return False
    return True


@dataclass
class Supervisor:
    """supervisord as our child: own session, dies with us, stopped by its PID only."""

    config: StackConfig
    progs: list[Program]
    start_retries: int = START_RETRIES
    popen: subprocess.Popen[bytes] | None = None
    known_pids: dict[str, int] = field(default_factory=dict)

    @property
    def sock(self) -> Path:
        return socket_path(self.config)

    @property
    def conf(self) -> Path:
        return self.config.run / "supervisord.conf"

    def start(self) -> None:
        self.config.run.mkdir(parents=True, exist_ok=True)
        self.config.logs.mkdir(parents=True, exist_ok=True)
        if self.sock.exists():
            if _socket_answers(self.sock):
                raise StackError(
                    f"a supervisord already answers on {self.sock}: is `make run` running? "
                    "Stop it first."
                )
            self.sock.unlink()  # left by a run that was killed
        self.conf.write_text(render_config(self.config, self.progs, self.sock, self.start_retries))
        binary = Path(sys.executable).with_name("supervisord")
        if not binary.exists():
            raise StackError(f"{binary} is missing: run `make setup`.")
        self.popen = subprocess.Popen(
            [str(binary), "--nodaemon", "--configuration", str(self.conf)],
            stdin=subprocess.DEVNULL,
            cwd=self.config.root,
            start_new_session=True,  # Ctrl-C reaches us; we stop it in order
            preexec_fn=die_with_parent,  # only a prctl: no locks taken
        )
        deadline = time.monotonic() + 15.0
        while True:
            try:
                self.infos()
                return
            except (OSError, xmlrpc.client.Error):
                if self.popen.poll() is not None or time.monotonic() > deadline:
                    log = self.config.logs / "supervisord.log"
                    raise StackError(
                        f"supervisord did not start; last lines of {log}:\n{tail(log, 15)}"
                    ) from None
                time.sleep(0.1)

    def infos(self) -> dict[str, dict[str, Any]]:
        """supervisord's view of every program, by name; remembers their PIDs."""
        if self.popen is not None and self.popen.poll() is not None:
            raise StackError(f"supervisord exited with code {self.popen.returncode}")
        listing: list[dict[str, Any]] = connect(self.sock).supervisor.getAllProcessInfo()
        result = {str(info["name"]): info for info in listing}
        for name, info in result.items():
            if info["pid"]:
                self.known_pids[name] = int(info["pid"])
        return result

    def stop_program(self, name: str) -> None:
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            connect(self.sock).supervisor.stopProcess(name, True)

    def stop(self) -> None:
        """supervisord stops the services, then the edge; then SIGKILL for anything left."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            limit = self.config.stop_timeout_s * (len(self.progs) + 1) + 10
            try:
                self.popen.wait(limit)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        # Each program leads its own process group (supervisord's children call setpgrp).
        for pid in self.known_pids.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@dataclass
class Watcher:
    """Turns supervisord's process states into console lines: crash, retry, back, given up."""

    supervisor: Supervisor
    ready_urls: dict[str, str]
    logs: Path
    up_pid: dict[str, int] = field(default_factory=dict)
    down_since: dict[str, float] = field(default_factory=dict)
    crashes: dict[str, deque[float]] = field(default_factory=dict)
    backoff_seen: dict[str, int] = field(default_factory=dict)
    given_up: set[str] = field(default_factory=set)
    out: Callable[[str], None] = field(default=lambda line: print(line, flush=True))

    def say(self, text: str) -> None:
        self.out(f"{time.strftime('%H:%M:%S')} {text}")

    def wait_ready(self, timeout: float) -> None:
        """Every /readyz 200 (FATAL fails at once, with the log tail), like Stack.wait_ready."""
        pending = dict(self.ready_urls)
        deadline = time.monotonic() + timeout
        last: dict[str, str] = dict.fromkeys(pending, "no answer yet")
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while pending:
                infos = self.supervisor.infos()
                for name in list(pending):
                    info = infos.get(name, {})
                    state = info.get("statename", "?")
                    if state == "FATAL":
                        log = self.logs / f"{name}.log"
                        raise StackError(
                            f"{name} kept exiting while starting "
                            f"({self.supervisor.start_retries} retries); "
                            f"last lines of {log}:\n{tail(log)}"
                        )
                    if state == "BACKOFF" and self.backoff_seen.get(name) != info.get("pid"):
                        self.backoff_seen[name] = info.get("pid", 0)
                        self.say(f"{name} exited while starting; retrying (see {name}.log)")
                    if state != "RUNNING" and state != "STARTING":
                        continue
                    status = _probe(client, pending[name])
                    if status == 200:
                        del pending[name]
                        self.up_pid[name] = int(info["pid"])
                    else:
                        last[name] = f"HTTP {status}" if status else "no answer"
                if pending and time.monotonic() > deadline:
                    details = "\n".join(
                        f"--- {n}: {last[n]}; last lines of {n}.log:\n"
                        f"{tail(self.logs / f'{n}.log', 20)}"
                        for n in pending
                    )
                    raise StackError(
                        f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}\n{details}"
                    )
                if pending:
                    time.sleep(POLL_S)

    def poll(self, client: httpx.Client) -> None:
        infos = self.supervisor.infos()
        now = time.monotonic()
        for name, info in infos.items():
            if name in self.given_up or name not in self.up_pid:
                continue
            state, pid = str(info["statename"]), int(info["pid"])
            if name not in self.down_since:
                if state in RUNNING_STATES and pid == self.up_pid[name]:
                    continue
                self.down_since[name] = now
                window = self.crashes.setdefault(name, deque())
                window.append(now)
                while window and now - window[0] > CRASH_WINDOW_S:
                    window.popleft()
                if len(window) > CRASH_LIMIT:
                    self.give_up(name, f"crashed {len(window)} times in {CRASH_WINDOW_S:.0f} s")
                    continue
                self.say(f"{name} (pid {self.up_pid[name]}) exited; supervisord restarts it")
            if state == "FATAL":
                tries = self.supervisor.start_retries + 1
                self.give_up(name, f"exited {tries} times in a row while starting")
            elif state == "BACKOFF" and self.backoff_seen.get(name) != pid:
                self.backoff_seen[name] = pid
                self.say(f"{name} exited again while starting; retrying with backoff")
            elif state in RUNNING_STATES and _probe(client, self.ready_urls[name]) == 200:
                took = now - self.down_since.pop(name)
                self.up_pid[name] = pid
                self.say(f"{name} is back (pid {pid}), ready {took:.1f} s after it went down")

    def give_up(self, name: str, why: str) -> None:
        self.given_up.add(name)
        self.supervisor.stop_program(name)
        log = self.logs / f"{name}.log"
        self.say(
            f"{name} keeps crashing ({why}): gave up on it, the rest keeps running. "
            f"Fix it and restart `make run`. Last lines of {log}:\n{tail(log, 15)}"
        )


def _probe(client: httpx.Client, url: str) -> int | None:
    try:
        return client.get(url, timeout=1.0).status_code
    except httpx.HTTPError:
        return None


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


def run(config: StackConfig) -> int:
    """prepare, start supervised, report until Ctrl-C / SIGTERM; stop everything on the way out."""
    stack = Stack(config)
    supervisor: Supervisor | None = None
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        stack.prepare()
        stack.check_ports_free()
        supervisor = Supervisor(config, programs(config))
        supervisor.start()
        watcher = Watcher(supervisor, stack.ready_urls(), config.logs)
        watcher.wait_ready(config.ready_timeout_s)
        print(f"Chat is running at {config.edge_url}", flush=True)
        print(
            f"Logs: {config.logs}/<name>.log (edge: edge-access.log), rotated by supervisord; "
            f"a crashed service is restarted. Status: .venv/bin/supervisorctl -c {supervisor.conf}"
            " status",
            flush=True,
        )
        print("Press Ctrl-C to stop.", flush=True)
        with httpx.Client(trust_env=False) as client:
            while True:
                watcher.poll(client)
                time.sleep(POLL_S)
    except _Stop:
        print("Stopping...", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if supervisor is not None:
            supervisor.stop()
        print("Stopped.", flush=True)
        return 0
    except (StackError, OSError, xmlrpc.client.Error) as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if supervisor is not None:
            supervisor.stop()
        sys.stderr.write(f"error: {exc}\n")
        return 1
