"""Private RabbitMQ and PostgreSQL instances for fault tests (killed, stopped, restarted at will).

Each has its own node/port/data directory in a temp dir, so the shared instances on 5672/5432 are
never touched. Both keep their data across stop()/start() (same ports, same directory) until
close() removes everything.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

from chat_devtools.infra import port_open, wait_until
from chat_devtools.processes import ManagedProcess

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class PrivateInstanceError(RuntimeError):
    pass


# Ports free_port has handed out in this process: once a probe socket is closed the OS may give
# the same ephemeral port to the next probe, and a config asking for several ports in a row then
# got one twice ("ports used twice").
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now, never one this process was given before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class _Private:
    """Shared lifecycle: a ManagedProcess, a readiness check on the port, a temp dir."""

    kind = "instance"
    start_timeout_s = 60.0

    def __init__(self, base_dir: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"chat-{self.kind}-", dir=base_dir))
        self.port = free_port()
        self.process: ManagedProcess | None = None

    def _make_process(self) -> ManagedProcess:
        raise NotImplementedError

    def start(self) -> None:
        if self.process is None:
            self.process = self._make_process()
        self.process.start()
        proc = self.process

        def ready() -> bool:
            return not proc.running or port_open("127.0.0.1", self.port, timeout=0.5)

        if not wait_until(ready, self.start_timeout_s, interval=0.2) or not proc.running:
            log = proc.log_tail(25)
            self.stop()
            raise PrivateInstanceError(
                f"private {self.kind} did not come up on port {self.port}; log:\n{log}"
            )

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown (data kept)."""
        if self.process is not None:
            self.process.stop(timeout)
            wait_until(lambda: not port_open("127.0.0.1", self.port, timeout=0.2), 5.0)

    def kill(self) -> None:
        """SIGKILL: a crash without any shutdown work (data kept, recovered on start)."""
        if self.process is not None:
            self.process.kill()
            wait_until(lambda: not port_open("127.0.0.1", self.port, timeout=0.2), 5.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def close(self) -> None:
        """Stop (kill if it will not stop) and remove every file."""
        with contextlib.suppress(Exception):
            self.stop(timeout=10.0)
        if self.process is not None and self.process.running:
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> _Private:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PrivateRabbitMQ(_Private):
    kind = "rabbitmq"

    def __init__(self, base_dir: Path | None = None) -> None:
        super().__init__(base_dir)
        if not Path(RABBITMQ_SERVER).exists():
            raise PrivateInstanceError(f"RabbitMQ is not installed ({RABBITMQ_SERVER} missing)")
        self.dist_port = free_port()
        self.nodename = f"chat-test-{uuid.uuid4().hex[:10]}@localhost"
        conf = self.dir / "rabbitmq.conf"
        conf.write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            # Temp dirs sit on a shared disk: do not block publishers on a free-space alarm.
            "disk_free_limit.absolute = 1MB\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n"
        )
        (self.dir / "enabled_plugins").write_text("[].\n")
        # Empty, instead of /etc/rabbitmq/rabbitmq-env.conf (which names the shared node).
        (self.dir / "rabbitmq-env.conf").write_text("")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        d = self.dir
        return {
            "HOME": str(d),  # own Erlang cookie
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_LOGS": "-",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def _make_process(self) -> ManagedProcess:
        return ManagedProcess(
            name="rabbitmq",
            argv=[RABBITMQ_SERVER],
            log_path=self.dir / "server.log",
            env=self.env(),
            cwd=self.dir,
        )

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """rabbitmqctl against this node (e.g. add_vhost, list_queues)."""
        proc = subprocess.run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.nodename, *args],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            detail = proc.stderr or proc.stdout
            raise PrivateInstanceError(f"rabbitmqctl {' '.join(args)}: {detail}")
        return proc.stdout


class PrivatePostgres(_Private):
    kind = "postgres"
    start_timeout_s = 30.0

    def __init__(self, base_dir: Path | None = None, bindir: Path | None = None) -> None:
        super().__init__(base_dir)
        self.bindir = bindir or _postgres_bindir()
        self.data = self.dir / "data"
        # PostgreSQL refuses to run as root: as root, the files and the server belong to `postgres`.
        self.os_user = "postgres" if os.geteuid() == 0 else None
        if self.os_user is not None:
            entry = pwd.getpwnam(self.os_user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._initdb()

    def _initdb(self) -> None:
        proc = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.data),
                "-U", "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd=self.dir,
            user=self.os_user,
            group=self.os_user,
            extra_groups=[] if self.os_user else None,
        )
        if proc.returncode != 0:
            raise PrivateInstanceError(f"initdb failed: {proc.stderr or proc.stdout}")

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `postgres` database (use database_url() for another)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    @property
    def dsn(self) -> str:
        """Plain libpq/asyncpg DSN of the `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _make_process(self) -> ManagedProcess:
        return ManagedProcess(
            name="postgres",
            argv=[
                str(self.bindir / "postgres"),
                "-D", str(self.data),
                "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"unix_socket_directories={self.dir}",
                # Test data only: speed over durability of the test instance's own files.
                "-c", "fsync=off",
                "-c", "max_connections=100",
            ],
            log_path=self.dir / "server.log",
            cwd=self.dir,
            stop_signal=signal.SIGINT,  # "fast" shutdown: do not wait for clients to leave
            user=self.os_user,
        )


def _postgres_bindir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for path in (Path("/usr/local/bin"), *versions):
        if (path / "initdb").exists() and (path / "postgres").exists():
            return path
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PrivateInstanceError("PostgreSQL server binaries (initdb, postgres) are not installed")
