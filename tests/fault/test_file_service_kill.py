"""kill -9 file-service in the middle of an upload (api-v1.1 E, issue #19).

The body is streamed slowly from a generator; once several MiB of it are in the service's spool
(seen on disk, so "mid-upload" is certain, not left to timing) the generator waits while the test
SIGKILLs the process. Then:

- the upload got no answer (a transport error, never a `file`): nothing new is served;
- the uploader's files are unchanged: one row in `chat_files.files` (the one made before), the
  same stored objects in CHAT_FILE_DIR, `GET /v1/files?ids=` of the old one gives it unchanged;
- file-service restarts (as test_message_service_kill.py restarts a replica), and a retry of the
  same upload succeeds with the right sha256 and size, its bytes served back whole.

The fault stack has no edge: requests go to file-service's own port (bearer tokens from auth).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from chatclient import ChatApi
from faultkit import FaultStack

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.files import (  # noqa: E402
    MIB,
    multipart_content_type,
    multipart_stream,
    new_boundary,
    random_bytes,
    sha256_hex,
    upload,
)

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]
log = logging.getLogger("fault")

FILE = "file"  # the stack's process name of the (single) file-service replica
TOTAL = 12 * MIB
CHUNK = 256 * 1024
PAUSE_AT = 6 * MIB  # the generator stops here until the process is killed
IN_SPOOL = 3 * MIB  # what must be in the spool on disk before the kill


def file_dir(fs: FaultStack) -> Path:
    return Path(fs.stack.config.env["CHAT_FILE_DIR"])


def stored_objects(root: Path) -> set[str]:
    """Relative paths of the stored objects (the spool left out)."""
    if not root.is_dir():
        return set()
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and ".spool" not in p.relative_to(root).parts
    }


def largest_spool_file(root: Path) -> int:
    spool = root / ".spool"
    sizes = [p.stat().st_size for p in spool.glob("*") if p.is_file()] if spool.is_dir() else []
    return max(sizes, default=0)


async def file_rows(fs: FaultStack, user_id: str) -> list[str]:
    dsn = fs.postgres.database_url("chat_files").replace("+asyncpg", "")
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text FROM files WHERE uploader_id = $1::uuid ORDER BY created_at", user_id
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def test_kill_9_file_service_mid_upload_serves_nothing_and_recovers(
    fault_stack: FaultStack, fault_http: httpx.AsyncClient
) -> None:
    fs = fault_stack
    assert FILE in fs.stack.processes, f"no file-service in the fault stack: {fs.stack.processes}"
    base = fs.stack.url(FILE)
    root = file_dir(fs)
    api = ChatApi(fs.auth_url, fs.message_urls, fault_http)
    user = await api.register("files")
    auth = {"Authorization": f"Bearer {user.token}"}

    kept_data = random_bytes(100_000, seed=1)
    r = await upload(
        fault_http, user.token, kept_data, filename="kept.bin", path=f"{base}/v1/files"
    )
    assert r.status_code == 201, r.text[:300]
    kept = r.json()["file"]
    objects_before = stored_objects(root)
    assert await file_rows(fs, user.id) == [kept["id"]]

    data = random_bytes(TOTAL, seed=7)
    paused = asyncio.Event()
    killed = asyncio.Event()

    async def slow_chunks() -> AsyncIterator[bytes]:
        for offset in range(0, TOTAL, CHUNK):
            if offset >= PAUSE_AT and not paused.is_set():
                paused.set()
                await killed.wait()
            yield data[offset : offset + CHUNK]
            await asyncio.sleep(0.005)

    boundary = new_boundary()
    started = time.monotonic()
    doomed = asyncio.create_task(
        fault_http.post(
            f"{base}/v1/files",
            content=multipart_stream(boundary, slow_chunks(), filename="big.bin"),
            headers={**auth, "Content-Type": multipart_content_type(boundary)},
            timeout=30.0,
        )
    )
    try:
        await asyncio.wait_for(paused.wait(), 20)
        # The service is certainly inside the upload: MiBs of it are in its spool on disk.
        deadline = time.monotonic() + 10
        while largest_spool_file(root) < IN_SPOOL:
            assert time.monotonic() < deadline, f"spool holds {largest_spool_file(root)} bytes"
            await asyncio.sleep(0.05)
        log.info("killing file-service with %d bytes spooled", largest_spool_file(root))
        await fs.call(fs.stack.kill, FILE)
        assert FILE not in fs.stack.pids()
    finally:
        killed.set()
    try:
        answer = await asyncio.wait_for(doomed, 30)
    except httpx.TransportError as exc:
        log.info("the killed upload ended with %r", exc)
    else:
        pytest.fail(f"the killed upload was answered: {answer.status_code} {answer.text[:300]}")

    # Nothing new: no row, no stored object (the database is up while the service is down).
    assert await file_rows(fs, user.id) == [kept["id"]]
    assert stored_objects(root) == objects_before

    await fs.call(fs.stack.restart, FILE)
    listed = await fault_http.get(f"{base}/v1/files", params={"ids": kept["id"]}, headers=auth)
    assert listed.status_code == 200, listed.text[:300]
    (again,) = listed.json()["files"]
    drop = {"url", "thumbnail_url"}
    assert {k: v for k, v in again.items() if k not in drop} == {
        k: v for k, v in kept.items() if k not in drop
    }
    got = await fault_http.get(f"{base}/v1/files/{kept['id']}", headers=auth)
    assert got.status_code == 200
    assert got.content == kept_data

    # The retry of the same upload succeeds, whole.
    boundary = new_boundary()

    async def all_chunks() -> AsyncIterator[bytes]:
        for offset in range(0, TOTAL, CHUNK):
            yield data[offset : offset + CHUNK]

    r = await fault_http.post(
        f"{base}/v1/files",
        content=multipart_stream(boundary, all_chunks(), filename="big.bin"),
        headers={**auth, "Content-Type": multipart_content_type(boundary)},
        timeout=60.0,
    )
    assert r.status_code == 201, r.text[:300]
    file = r.json()["file"]
    assert (file["size"], file["sha256"]) == (TOTAL, sha256_hex(data))
    assert file["name"] == "big.bin"
    got = await fault_http.get(f"{base}{file['url']}")
    assert got.status_code == 200
    assert sha256_hex(got.content) == sha256_hex(data)
    assert sorted(await file_rows(fs, user.id)) == sorted([kept["id"], file["id"]])
    elapsed = time.monotonic() - started
    log.info("kill, restart and retry took %.1fs", elapsed)
    assert elapsed < 60, f"took {elapsed:.1f}s"
