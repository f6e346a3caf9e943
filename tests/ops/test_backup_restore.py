"""Backup and restore (issue #23, docs/operations.md), end to end on private stacks.

A stack on ports 28201-28205 (edge 28280), with its own RabbitMQ vhost, databases, key directory
and file store, is filled with users, channels (public, private, an empty one), a direct room,
messages over REST and WebSocket (every kind that exists today: `text`, with multi-line, non-Latin,
HTML-looking and maximum-length texts), read positions, a signed-out session and an uploaded file.
`python -m chat_devtools.backup create` runs while one room keeps receiving messages. The backup
is restored (refused first into the non-empty source databases) into databases of other names
and a fresh key directory and file store, and the services start on them on ports 28211-28215
(edge 28290),
against a fresh vhost, with the source stack stopped. Then:

- every room's history is equal to the source's, `seq` gapless; the room written during the dump
  holds a gapless prefix of its source history, with `last_seq` matching;
- every user's room list, unread counts and every room's members and read positions are equal;
- sessions: an access token issued before the backup verifies at every service (WebSocket too),
  a refresh token issued before the backup refreshes, a session signed out before the backup
  stays signed out, a session begun after the backup cannot refresh; passwords still sign in;
- a retried send of a message in the backup returns the original; new sends continue the seq;
- presence and every /readyz answer; the file store's files come back byte for byte, and the file
  uploaded before the backup downloads with the same bytes and metadata.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from chat_devtools.config import StackConfig, config_from_env, database_url, find_repo_root
from chat_devtools.config import default_services as services_on
from chat_devtools.stack import Stack
from chat_runtime.testing import temporary_database, temporary_vhost

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    JSON_HEADERS,
    Edge,
    Message,
    User,
    open_edge,
    open_socket,
    unique_name,
    unverified_claims,
)

pytestmark = [pytest.mark.timeout(240)]

SOURCE_BASE = 28200  # this helper's private port block: 282xx
RESTORED_BASE = 28210
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVICE_DATABASES = ("chat_auth", "chat_files", "chat_messages", "chat_presence")
# Message kinds that exist in this release (api-v1 §4); each is sent before the backup.
KINDS = ("text",)
TEXTS = (
    "hello",
    "two\nlines",
    "Grüße, привет, 你好, 🙂",
    "<b>not html</b> & 'quotes' \"too\"",
    "  leading and trailing spaces  ",
    "x" * 4000,
)


# -- stacks ----------------------------------------------------------------------------------


def stack_config(
    base: int, work: Path, amqp_url: str, dbs: dict[str, str], keys: Path, files: Path
) -> StackConfig:
    return replace(
        config_from_env(find_repo_root(Path(__file__).parent)),
        services=services_on(
            auth=(base + 1,),
            gateway=(base + 2,),
            message=(base + 3,),
            presence=(base + 4,),
            file=(base + 5,),
        ),
        amqp_url=amqp_url,
        database_urls=dbs,
        edge_port=base + 80,
        log_dir=work / "log",
        run_dir=work / "run",
        env={"CHAT_AUTH_KEYS_DIR": str(keys), "CHAT_FILE_DIR": str(files)},
        # Each service migrates its database when it starts (the restored ones too); doing it
        # once more beforehand in four subprocesses costs ~20 s on two cores.
        migrate=False,
    )


@asynccontextmanager
async def running(config: StackConfig) -> AsyncIterator[Stack]:
    stack = Stack(config)
    try:
        await asyncio.to_thread(stack.prepare)
        await asyncio.to_thread(stack.start)
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


@asynccontextmanager
async def dropped_afterwards(names: list[str]) -> AsyncIterator[None]:
    """Databases the restore creates: removed at the end whatever happened."""
    try:
        yield
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            for name in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def backup_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chat_devtools.backup", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=_ROOT,
    )


def database_args(dbs: dict[str, str]) -> list[str]:
    return [arg for name, url in dbs.items() for arg in ("--database", f"{name}={url}")]


# -- the product as clients see it -----------------------------------------------------------


@dataclass
class Session:
    """One sign-in of a user: its access token and refresh token."""

    user: User
    access: str
    refresh: str

    @property
    def session_id(self) -> str:
        return str(unverified_claims(self.access)["sid"])


async def sign_in(edge: Edge, user: User) -> Session:
    r = await edge.login_response(user.username, user.password)
    assert r.status_code == 200, r.text
    return Session(user, r.json()["access_token"], r.cookies["chat_refresh"])


async def refresh(edge: Edge, refresh_token: str) -> httpx.Response:
    return await edge.http.post(
        "/v1/auth/refresh",
        headers={**JSON_HEADERS, "Cookie": f"chat_refresh={refresh_token}"},
        content=b"{}",
    )


def as_user(edge: Edge, user: User, token: str | None = None) -> User:
    """The same account on another edge (the restored stack), with the given token."""
    return User(edge, user.id, user.username, user.display_name, user.password, token or user.token)


@dataclass
class Snapshot:
    """Everything a client can read that a restore must bring back."""

    rooms: dict[str, list[dict[str, Any]]]  # username -> GET /v1/rooms, by room id
    members: dict[str, list[dict[str, Any]]]  # room id -> GET members, by user id
    histories: dict[str, list[Message]]  # room id -> every message


async def snapshot(users: list[User], skip_rooms: set[str]) -> Snapshot:
    rooms: dict[str, list[dict[str, Any]]] = {}
    readers: dict[str, User] = {}
    for user in users:
        listing = (await user.ok("GET", "/v1/rooms"))["rooms"]
        rooms[user.username] = sorted(
            (r for r in listing if r["id"] not in skip_rooms), key=lambda r: str(r["id"])
        )
        for room in rooms[user.username]:
            readers.setdefault(str(room["id"]), user)
    members: dict[str, list[dict[str, Any]]] = {}
    histories: dict[str, list[Message]] = {}
    for room_id, reader in sorted(readers.items()):
        body = await reader.ok("GET", f"/v1/rooms/{room_id}/members")
        members[room_id] = sorted(body["members"], key=lambda m: str(m["user_id"]))
        histories[room_id] = await reader.history(room_id)
    return Snapshot(rooms, members, histories)


def assert_gapless(messages: list[Message], room_id: str) -> None:
    seqs = [int(m["seq"]) for m in messages]
    assert seqs == list(range(1, len(seqs) + 1)), f"room {room_id}: seqs {seqs}"


async def fill(edge: Edge, users: list[User]) -> dict[str, str]:
    """Rooms with messages and read positions; returns the rooms by role."""
    alice, bob, carol, dave = users
    general = await alice.create_room(unique_name("general"), "public")
    for other in (bob, carol, dave):
        await other.join(general["id"])
    private = await alice.create_room(unique_name("private"), "private")
    await alice.invite(private["id"], bob.id)
    empty = await dave.create_room(unique_name("empty"), "public")
    dm = await alice.open_dm(carol.id)
    busy = await dave.create_room(unique_name("busy"), "private")

    for round_ in range(3):
        for i, user in enumerate(users):
            for kind in KINDS:
                assert kind == "text"  # the only kind today; new kinds get their own sends
                await user.send_rest(general["id"], TEXTS[(round_ + i) % len(TEXTS)])
    for i in range(8):
        await (alice if i % 2 == 0 else bob).send_rest(private["id"], TEXTS[i % len(TEXTS)])
    for i in range(6):
        await (carol if i % 3 else alice).send_rest(dm["id"], TEXTS[-1 - i])
    # Over the WebSocket too: acked means committed.
    async with alice.socket() as sock:
        for i in range(5):
            cmid = await sock.send_message(general["id"], f"over the socket {i}")
            ack = await sock.wait_ack(cmid)
            assert ack["text"] == f"over the socket {i}"
    await bob.ok("POST", f"/v1/rooms/{general['id']}/read", 204, json={"seq": 7})
    await carol.ok("POST", f"/v1/rooms/{dm['id']}/read", 204, json={"seq": 6})
    return {
        "general": general["id"],
        "private": private["id"],
        "empty": empty["id"],
        "dm": dm["id"],
        "busy": busy["id"],
    }


async def keep_sending(user: User, room_id: str, stop: asyncio.Event) -> int:
    """Messages into one room until `stop`: the backup runs while the room is being written."""
    sent = 0
    while not stop.is_set():
        await user.send_rest(room_id, f"during the backup {sent}")
        sent += 1
    return sent


async def wait_online(asker: User, user_id: str, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    status = None
    while time.monotonic() < deadline:
        body = await asker.ok("GET", "/v1/presence", params={"user_ids": user_id})
        status = body["users"][0]["status"]
        if status == "online":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{user_id} is {status!r}, not online, {within_s}s after connecting")


def make_file_store(path: Path) -> dict[str, bytes]:
    """Blobs under CHAT_FILE_DIR that no row names (file-service leaves them alone): the backup
    archives the directory as it is, whatever it holds."""
    files = {
        "ab/abcdef.bin": os.urandom(70_000),
        "cd/cdef01.txt": "a text file, ü\n".encode(),
    }
    for rel, data in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data)
    return files


UPLOAD = ("notes ü 🙂 " * 2000).encode()  # ~30 kB of UTF-8 text: stored as text/plain


async def upload(user: User, data: bytes, name: str) -> dict[str, Any]:
    r = await user.post("/v1/files", files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == 201, f"upload: {r.status_code} {r.text[:400]}"
    file: dict[str, Any] = r.json()["file"]
    return file


async def download(user: User, file_id: str) -> bytes:
    r = await user.get(f"/v1/files/{file_id}")
    assert r.status_code == 200, f"download: {r.status_code} {r.text[:400]}"
    return r.content


# -- the test ---------------------------------------------------------------------------------


async def test_a_restored_backup_serves_the_same_chat(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    restored_names = {
        "chat_auth": f"ops_restored_auth_{tag}",
        "chat_files": f"ops_restored_files_{tag}",
        "chat_messages": f"ops_restored_msg_{tag}",
    }
    timings: dict[str, float] = {}
    async with AsyncExitStack() as resources:
        source_vhost = await resources.enter_async_context(temporary_vhost("ops-src"))
        restored_vhost = await resources.enter_async_context(temporary_vhost("ops-restored"))
        source_dbs = {
            name: await resources.enter_async_context(temporary_database(f"ops_src_{name[5:]}"))
            for name in SERVICE_DATABASES
        }
        await resources.enter_async_context(dropped_afterwards(list(restored_names.values())))
        server = config_from_env().postgres_url
        restored_dbs = {name: database_url(server, db) for name, db in restored_names.items()}
        # One target exists already, empty (a database an operator created): restore uses it.
        restored_dbs["chat_presence"] = await resources.enter_async_context(
            temporary_database("ops_restored_pres")
        )
        source_keys, restored_keys = tmp_path / "keys", tmp_path / "keys-restored"
        source_files, restored_files = tmp_path / "files", tmp_path / "files-restored"
        files = make_file_store(source_files)
        backups = tmp_path / "backups"

        # 1. The source stack, filled; the backup taken while one room is being written.
        t0 = time.monotonic()
        source = stack_config(
            SOURCE_BASE, tmp_path / "source", source_vhost, source_dbs, source_keys, source_files
        )
        async with running(source), open_edge(source.edge_url) as edge:
            timings["source stack up"] = time.monotonic() - t0
            users = await edge.new_users(4, "ops")
            alice, bob, carol, dave = users
            rooms = await fill(edge, users)
            before = await sign_in(edge, alice)  # its refresh token is used after the restore
            signed_out = await sign_in(edge, carol)
            r = await edge.logout(signed_out.access)
            assert r.status_code == 204, r.text
            retry_cmid = str(uuid.uuid4())
            kept = await alice.send_rest(rooms["general"], "retried later", retry_cmid)
            uploaded = await upload(bob, UPLOAD, "notes.txt")
            assert uploaded["size"] == len(UPLOAD)
            assert await download(bob, uploaded["id"]) == UPLOAD
            timings["filled"] = time.monotonic() - t0

            stop = asyncio.Event()
            writer = asyncio.create_task(keep_sending(dave, rooms["busy"], stop))
            await asyncio.sleep(0.3)
            t1 = time.monotonic()
            made = await asyncio.to_thread(
                backup_cli,
                "create",
                "--out",
                str(backups),
                *database_args(source_dbs),
                "--keys-dir",
                str(source_keys),
                "--file-dir",
                str(source_files),
            )
            timings["backup"] = time.monotonic() - t1
            await asyncio.sleep(0.3)
            stop.set()
            sent_during = await writer
            assert made.returncode == 0, made.stderr
            backup = Path(made.stdout.strip().splitlines()[-1])
            assert sent_during > 0

            after = await sign_in(edge, alice)  # a session the backup does not know
            expected = await snapshot(users, skip_rooms={rooms["busy"]})
            busy_source = await dave.history(rooms["busy"])
        timings["source stopped"] = time.monotonic() - t0

        # 2. The backup: complete, its checksums right, refused over non-empty databases.
        assert backup.is_dir(), backup
        assert backup.name.startswith("chat-"), backup
        assert oct(backup.stat().st_mode & 0o777) == "0o700"
        assert {p.name for p in (backup / "databases").iterdir()} == {
            f"{n}.dump" for n in SERVICE_DATABASES
        }
        checked = backup_cli("verify", str(backup))
        assert checked.returncode == 0, checked.stderr
        refused = backup_cli(
            "restore", str(backup), *database_args(source_dbs), "--keys-dir", str(restored_keys)
        )
        assert refused.returncode == 2, refused.stderr
        assert "refused, nothing changed" in refused.stderr
        assert not restored_keys.exists(), "a refused restore wrote the keys"

        # 3. Restore into databases of other names and a fresh key directory and file store.
        t2 = time.monotonic()
        restored_run = backup_cli(
            "restore",
            str(backup),
            *database_args(restored_dbs),
            "--keys-dir",
            str(restored_keys),
            "--file-dir",
            str(restored_files),
        )
        timings["restore"] = time.monotonic() - t2
        assert restored_run.returncode == 0, restored_run.stderr
        assert sorted(p.name for p in restored_keys.iterdir()) == sorted(
            p.name for p in source_keys.iterdir()
        )
        for rel, data in files.items():
            assert (restored_files / rel).read_bytes() == data, rel

        # 4. The services on the restored data: the same chat.
        t3 = time.monotonic()
        restored = stack_config(
            RESTORED_BASE,
            tmp_path / "restored",
            restored_vhost,
            restored_dbs,
            restored_keys,
            restored_files,
        )
        async with running(restored) as stack, open_edge(restored.edge_url) as edge2:
            timings["restored stack up"] = time.monotonic() - t3
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as probe:
                for name, url in stack.ready_urls().items():
                    assert (await probe.get(url)).status_code == 200, name
            again = [as_user(edge2, u) for u in users]
            got = await snapshot(again, skip_rooms={rooms["busy"]})
            assert got.histories.keys() == expected.histories.keys()
            for room_id, history in expected.histories.items():
                assert_gapless(got.histories[room_id], room_id)
                assert got.histories[room_id] == history, f"room {room_id} differs"
            # (the joins of the channel are `system` entries besides, api-v1.1 A)
            sent = [m for m in got.histories[rooms["general"]] if m["kind"] in KINDS]
            assert len(sent) == 3 * 4 * len(KINDS) + 5 + 1
            assert got.histories[rooms["empty"]] == []
            assert got.rooms == expected.rooms
            assert got.members == expected.members

            # The room written during the dump: a consistent, gapless prefix.
            dave2 = again[3]
            busy = await dave2.history(rooms["busy"])
            assert_gapless(busy, rooms["busy"])
            assert 0 < len(busy) <= len(busy_source)
            assert busy == busy_source[: len(busy)]
            assert (await dave2.room(rooms["busy"]))["last_seq"] == len(busy)

            # Sessions: tokens from before the backup, at every service.
            alice2 = as_user(edge2, alice, before.access)
            me = await alice2.ok("GET", "/v1/users/me")
            assert me["user"]["id"] == alice.id
            await alice2.ok("GET", "/v1/rooms")
            await alice2.ok("GET", "/v1/presence", params={"user_ids": bob.id})
            async with open_socket(edge2.ws_url, before.access) as sock:
                assert sock.ready["session_id"] == before.session_id
                await wait_online(again[1], alice.id)
                cmid = await sock.send_message(rooms["general"], "after the restore")
                fresh = await sock.wait_ack(cmid)
                assert fresh["seq"] == len(expected.histories[rooms["general"]]) + 1
            renewed = await refresh(edge2, before.refresh)
            assert renewed.status_code == 200, renewed.text
            alice3 = as_user(edge2, alice, renewed.json()["access_token"])
            assert (await alice3.ok("GET", "/v1/users/me"))["user"]["id"] == alice.id
            assert (await refresh(edge2, signed_out.refresh)).status_code == 401
            gone = await alice2.get("/v1/users/me", token=signed_out.access)
            assert gone.status_code == 401, "a session signed out before the backup came back"
            assert (await refresh(edge2, after.refresh)).status_code == 401
            assert (await edge2.login_response(bob.username, bob.password)).status_code == 200

            # The file uploaded before the backup: its row and its bytes came back together.
            bob2 = as_user(edge2, bob)
            assert await download(bob2, uploaded["id"]) == UPLOAD
            listed = await bob2.ok("GET", "/v1/files", params={"ids": uploaded["id"]})
            [again_file] = listed["files"]
            for key in ("id", "name", "size", "content_type", "sha256", "created_at"):
                assert again_file[key] == uploaded[key], key

            # A send the client retries after the restore: the original, not a second message.
            retried = await again[0].send_rest(rooms["general"], "retried later", retry_cmid)
            assert retried == kept
            general = await again[0].history(rooms["general"])
            assert_gapless(general, rooms["general"])
            assert general[-1]["text"] == "after the restore"
        timings["total"] = time.monotonic() - t0
    summary = ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
    sys.stderr.write(f"backup/restore timings (s): {summary}\n")
