"""Child processes we start ourselves: own session, output to a log file, stopped by PID only."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask Linux to SIGTERM the child when the thread that started it dies (no orphans)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no log file at {path})"
    kept = data.splitlines()[-lines:]
    return "\n".join(kept) if kept else "(log is empty)"


@dataclass
class ManagedProcess:
    """One child process. Signals go to its own process group (it may have children)."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    # PostgreSQL treats SIGTERM as "wait for every client"; it is stopped with SIGINT instead.
    stop_signal: int = signal.SIGTERM
    # Run as this OS user (PostgreSQL refuses to run as root); only honoured when we are root.
    user: str | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, **self.env}
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting {' '.join(self.argv)}\n".encode())
            log.flush()
            as_user = self.user if self.user and os.geteuid() == 0 else None
            self.popen = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent,  # only a prctl: no locks taken
                user=as_user,
                group=as_user,
                extra_groups=[] if as_user else None,
            )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def signal(self, sig: int) -> None:
        if not self.running or self.popen is None:
            return
        # Our child leads its own session/group, so its group id is its PID: only ours.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def wait(self, timeout: float) -> bool:
        """True when the process has exited within timeout seconds."""
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait, then SIGKILL; returns the exit code."""
        if self.popen is None:
            return None
        if self.running:
            # The leader alone gets the signal so it can shut its own workers down gracefully.
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)
            if not self.wait(timeout):
                self.signal(signal.SIGKILL)
                self.wait(5.0)
        self._reap_group()
        return self.popen.poll()

    def kill(self) -> None:
        """SIGKILL at once (fault tests: a crash, no shutdown handlers)."""
        if self.popen is None:
            return
        self.signal(signal.SIGKILL)
        self.wait(5.0)
        self._reap_group()

    def _reap_group(self) -> None:
        # Grandchildren left in the group after the leader exited (killpg still reaches them).
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)
