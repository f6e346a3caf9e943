"""deploy/compose/backup.sh, the compose `backup`/`restore` services' script, run here against
the machine's PostgreSQL (there is no Docker engine on this machine): one backup of three
databases, the key directory and a file store; `make backup`'s verifier accepts it; a restore
over non-empty targets is refused and changes nothing; a restore into fresh names brings back
every row and file, owned by each database's owner role (compose's database-owners), and is
refused while such a role is missing; FORCE=1 overwrites and keeps the old directories; pruning
keeps the newest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from chat_runtime.testing import temporary_database

pytestmark = [pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "compose" / "backup.sh"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
NAMES = ("chat_auth", "chat_files", "chat_messages", "chat_presence")


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def dsn(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


async def fill(name: str, rows: int) -> None:
    conn = await asyncpg.connect(dsn(name))
    try:
        await conn.execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, body text NOT NULL);"
            "CREATE TABLE alembic_version (version_num text PRIMARY KEY);"
            "INSERT INTO alembic_version VALUES ('0001')"
        )
        await conn.executemany(
            "INSERT INTO items VALUES ($1, $2)", [(i, f"row {i} ü 🙂") for i in range(rows)]
        )
    finally:
        await conn.close()


async def rows_of(name: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn(name))
    try:
        return [(r["id"], r["body"]) for r in await conn.fetch("SELECT * FROM items ORDER BY id")]
    finally:
        await conn.close()


@asynccontextmanager
async def dropped_afterwards(names: list[str], roles: Sequence[str] = ()) -> AsyncIterator[None]:
    try:
        yield
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            for name in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for role in roles:
                await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()


async def ownership(name: str) -> tuple[str, set[str], bool]:
    """Database `name`'s owner, the owners of its tables, whether PUBLIC may connect."""
    conn = await asyncpg.connect(dsn(name))
    try:
        owner = await conn.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", name
        )
        tables = await conn.fetch(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        )
        public = await conn.fetchval(
            "SELECT datacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(datacl) a"
            " WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')"
            " FROM pg_database WHERE datname = $1",
            name,
        )
        return owner, {r["tableowner"] for r in tables}, public
    finally:
        await conn.close()


def script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PGHOST": "127.0.0.1", "PGUSER": "postgres", **env}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


async def test_the_compose_backup_script_round_trip(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    fresh = {name: f"ops_sh_restored_{name[5:]}_{tag}" for name in NAMES}
    keys, files, out = tmp_path / "keys", tmp_path / "files", tmp_path / "backups"
    keys.mkdir(mode=0o700)
    (keys / "current").write_text("kid-1")
    (keys / "kid-1.key.pem").write_bytes(os.urandom(64))
    (keys / "kid-1.key.pem").chmod(0o600)
    (files / "ab").mkdir(parents=True)
    (files / "ab" / "blob").write_bytes(os.urandom(5000))
    # file-service's uploads in progress: not archived.
    (files / ".spool").mkdir()
    (files / ".spool" / "upload-1").write_bytes(b"half an upload")
    async with AsyncExitStack() as stack:
        sources = {
            name: db_name(await stack.enter_async_context(temporary_database(f"ops_sh_{name[5:]}")))
            for name in NAMES
        }
        owners = {name: f"{actual}_owner" for name, actual in fresh.items()}
        await stack.enter_async_context(
            dropped_afterwards(list(fresh.values()), list(owners.values()))
        )
        for i, name in enumerate(sources.values()):
            await fill(name, 50 * (i + 1))
        env = {
            "CHAT_BACKUP_DIR": str(out),
            "CHAT_BACKUP_DATABASES": " ".join(f"{n}={a}" for n, a in sources.items()),
            "CHAT_BACKUP_KEYS_DIR": str(keys),
            "CHAT_BACKUP_FILE_DIR": str(files),
            "CHAT_BACKUP_KEEP": "2",
        }
        assert script(env, "check").returncode != 0, "healthy without any backup"
        made = script(env, "once")
        assert made.returncode == 0, made.stderr
        [backup] = sorted(out.glob("chat-*Z"))
        assert script(env, "check").returncode == 0, "unhealthy right after a backup"

        # The same format as `make backup`: its verifier reads it.
        checked = subprocess.run(
            [sys.executable, "-m", "chat_devtools.backup", "verify", str(backup)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr

        refused = script(env, "restore", str(backup))
        assert refused.returncode == 2, refused.stderr
        assert "refused, nothing changed" in refused.stderr
        rows = 50 * (NAMES.index("chat_messages") + 1)
        expected = [(i, f"row {i} ü 🙂") for i in range(rows)]
        assert await rows_of(sources["chat_messages"]) == expected

        target_keys, target_files = tmp_path / "keys-restored", tmp_path / "files-restored"
        into = {
            **env,
            "CHAT_BACKUP_DATABASES": " ".join(f"{n}={a}" for n, a in fresh.items()),
            "CHAT_BACKUP_KEYS_DIR": str(target_keys),
            "CHAT_BACKUP_FILE_DIR": str(target_files),
            "CHAT_BACKUP_OWNER_SUFFIX": "_owner",
        }
        # The owner roles (compose: database-owners) must exist first.
        missing = script(into, "restore", str(backup))
        assert missing.returncode == 1, missing.stderr
        assert "does not exist" in missing.stderr
        assert not target_keys.exists()
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            for role in owners.values():
                await admin.execute(f'CREATE ROLE "{role}" NOLOGIN')
            # database-owners may have created an empty database already: restored into.
            await admin.execute(f'CREATE DATABASE "{fresh["chat_auth"]}"')
        finally:
            await admin.close()
        restored = script(into, "restore", str(backup))
        assert restored.returncode == 0, restored.stderr
        for name in NAMES:
            assert await rows_of(fresh[name]) == await rows_of(sources[name]), name
            assert await ownership(fresh[name]) == (owners[name], {owners[name]}, False), name
        assert tree(target_keys) == tree(keys)
        assert oct(target_keys.stat().st_mode & 0o777) == "0o700"
        assert oct((target_keys / "kid-1.key.pem").stat().st_mode & 0o777) == "0o600"
        assert tree(target_files) == {k: v for k, v in tree(files).items() if ".spool" not in k}

        # FORCE=1 over the now non-empty targets; the directories replaced are kept as tars.
        (target_keys / "current").write_text("changed")
        forced = script({**into, "FORCE": "1"}, "restore", str(backup))
        assert forced.returncode == 0, forced.stderr
        assert (target_keys / "current").read_text() == "kid-1"
        for name in NAMES:  # recreated databases belong to their owner roles too
            assert await ownership(fresh[name]) == (owners[name], {owners[name]}, False), name
        assert len(list(out.glob("auth-keys-before-restore-*.tar"))) == 1

        # Pruning keeps the newest CHAT_BACKUP_KEEP complete backups.
        for _ in range(2):
            time.sleep(1.05)  # backup names are to the second
            assert script(env, "once").returncode == 0
        kept = sorted(out.glob("chat-*Z"))
        assert len(kept) == 2
        assert backup not in kept
