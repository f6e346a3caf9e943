"""auth-service starts when its key directory cannot be written, as with a Kubernetes Secret
mount (issue #22: `keys.py` used to chmod it and died with EROFS).

The tests run as root here, so file modes would not stop a write: the real process runs in its own
mount namespace (`unshare --mount`) where the key directory is bind-mounted read-only. It signs
users in with the key it finds there and serves it in the JWKS; without keys and with
CHAT_AUTH_KEYS_READ_ONLY it refuses to start and says why. Private ports 286xx (no lock)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from auth_service.keys import KeyRing
from chat_runtime.testing import temporary_database

pytestmark = pytest.mark.integration

PORT_BLOCK = range(28660, 28680)
NO_BROKER = "amqp://guest:guest@127.0.0.1:1/"  # the API serves without it (events wait)
MOUNT_RO = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'


def _unshare_works(directory: Path) -> str | None:
    """None when a read-only bind mount in a private mount namespace works here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind -o ro "$1" "$1" && touch "$1/probe"', "sh", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if "Read-only file system" in probe.stderr and not (directory / "probe").exists():
        return None
    return f"no read-only bind mount in a private mount namespace: {probe.stderr.strip()[:200]}"


def free_port() -> int:
    for port in PORT_BLOCK:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {PORT_BLOCK}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def database_url() -> AsyncIterator[str]:
    async with temporary_database("auth_rokeys") as url:
        yield url


def start(keys: Path, port: int, database_url: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_RO,
         "sh", str(keys), sys.executable, "-m", "auth_service"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "CHAT_HOST": "127.0.0.1",
            "CHAT_PORT": str(port),
            "CHAT_DATABASE_URL": database_url,
            "CHAT_AMQP_URL": NO_BROKER,
            "CHAT_AUTH_KEYS_DIR": str(keys),
            **env,
        },
    )  # fmt: skip


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir()
    why = _unshare_works(keys)
    if why is not None:
        pytest.skip(why)
    return keys


def stop(proc: subprocess.Popen[str]) -> str:
    # `unshare` and `sh` exec'ed: this is auth-service's own PID. Its clean stop is not what
    # these tests are about.
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    return proc.stdout.read() if proc.stdout else ""


def test_auth_service_serves_and_signs_from_a_read_only_key_directory(
    read_only_dir: Path, database_url: str
) -> None:
    """With the default settings (CHAT_AUTH_KEYS_READ_ONLY unset): keys that are there are read,
    nothing is created or chmod-ed."""
    ring = KeyRing(read_only_dir)
    ring.load_or_create()  # the key is there before the mount, as a Secret's would be
    kid = ring.signing_key.kid
    os.chmod(read_only_dir, 0o755)  # not 0700: auth-service must not try to fix it
    before = sorted((p.name, p.stat().st_mtime_ns) for p in read_only_dir.iterdir())
    port = free_port()
    proc = start(read_only_dir, port, database_url)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, stop(proc)
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, stop(proc)
            time.sleep(0.2)
        jwks = httpx.get(f"{base}/v1/auth/jwks", timeout=5).json()
        assert [k["kid"] for k in jwks["keys"]] == [kid]
        name = f"ro_{uuid.uuid4().hex[:12]}"
        password = f"Quiet-Lantern-{uuid.uuid4().hex}"
        r = httpx.post(
            f"{base}/v1/auth/register",
            json={"username": name, "display_name": name, "password": password},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        r = httpx.post(
            f"{base}/v1/auth/login", json={"username": name, "password": password}, timeout=30
        )
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        ring.reload_if_changed()
        assert ring.verify(token, now=time.time()).session_id  # signed with the mounted key
    finally:
        out = stop(proc)
    assert "Read-only file system" not in out, out
    assert sorted((p.name, p.stat().st_mtime_ns) for p in read_only_dir.iterdir()) == before


def test_without_keys_a_read_only_auth_service_refuses_to_start_and_says_why(
    read_only_dir: Path, database_url: str
) -> None:
    proc = start(
        read_only_dir,
        free_port(),
        database_url,
        CHAT_AUTH_KEYS_READ_ONLY="true",
        CHAT_MIGRATE_ON_START="false",
    )
    try:
        proc.wait(60)
    finally:
        out = stop(proc)
    assert proc.returncode != 0
    assert "CHAT_AUTH_KEYS_READ_ONLY" in out, out
    assert list(read_only_dir.iterdir()) == []
