"""chat_devtools.backup without a database: names, URLs, targets, tool choice, archives, the
manifest and its verification, and restore's refusal (database questions replaced)."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chat_devtools import backup
from chat_devtools.backup import (
    BackupError,
    Connection,
    DatabaseState,
    Manifest,
    Refused,
    Targets,
)
from chat_devtools.config import StackConfig

pytestmark = pytest.mark.unit
ROOT = Path("/repo")


def test_backup_names_sort_by_time() -> None:
    when = datetime(2026, 12, 6, 9, 5, 1, tzinfo=UTC)
    assert backup.backup_name(when) == "chat-20261206T090501Z"
    assert backup.utc_iso(when) == "2026-12-06T09:05:01Z"


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)", 15),
        ("15.20 (Debian 15.20-0+deb12u1)", 15),
        ("16.9", 16),
        ("17beta1", 17),
        ("150020", 15),
    ],
)
def test_major_versions(text: str, major: int) -> None:
    assert backup.major_version(text) == major


def test_database_arguments() -> None:
    got = backup.parse_database_args(
        ["chat_auth=postgresql://h/a", "chat_messages=postgresql://h/m"]
    )
    assert got == {"chat_auth": "postgresql://h/a", "chat_messages": "postgresql://h/m"}
    for bad in (["chat_auth"], ["=postgresql://h/a"], ["chat_auth="]):
        with pytest.raises(BackupError, match="NAME=URL"):
            backup.parse_database_args(bad)
    with pytest.raises(BackupError, match="twice"):
        backup.parse_database_args(["chat_auth=postgresql://h/a", "chat_auth=postgresql://h/b"])


def test_a_password_never_reaches_the_command_line() -> None:
    conn = Connection.of(
        "postgresql+asyncpg://chat:p%40ss@db.example:5433/chat_auth?sslmode=require"
    )
    assert conn.uri == "postgresql://chat@db.example:5433/chat_auth?sslmode=require"
    assert conn.database == "chat_auth"
    assert conn.env()["PGPASSWORD"] == "p@ss"
    assert (
        conn.asyncpg_dsn() == "postgresql://chat:p%40ss@db.example:5433/chat_auth?sslmode=require"
    )
    other = conn.with_database("postgres")
    assert other.uri == "postgresql://chat@db.example:5433/postgres?sslmode=require"
    assert backup.redact("postgresql://chat:secret@h/db") == "postgresql://chat:***@h/db"


def test_connections_without_password_or_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    conn = Connection.of("postgresql://postgres@127.0.0.1:5432/chat_messages")
    assert conn.password is None
    assert conn.asyncpg_dsn() == conn.uri
    assert "PGPASSWORD" not in conn.env()
    with pytest.raises(BackupError, match="no database name"):
        Connection.of("postgresql://postgres@127.0.0.1:5432/")
    with pytest.raises(BackupError, match="not a PostgreSQL URL"):
        Connection.of("mysql://root@h/db")


def test_default_targets_are_the_make_run_ones_in_dump_order() -> None:
    config = StackConfig(root=ROOT)
    targets = backup.default_targets(config, environ={})
    # Producers of events before their consumers: auth (users) and files (file.uploaded.v1)
    # before messages.
    assert list(targets.databases) == ["chat_auth", "chat_files", "chat_messages", "chat_presence"]
    assert targets.databases["chat_files"].endswith("127.0.0.1:5432/chat_files")
    assert targets.databases["chat_messages"].endswith("127.0.0.1:5432/chat_messages")
    assert targets.keys_dir == ROOT / "var" / "keys"
    assert targets.file_dir == ROOT / "var" / "files"


def test_default_targets_take_overrides() -> None:
    config = StackConfig(root=ROOT)
    targets = backup.default_targets(
        config,
        databases={"chat_messages": "postgresql://h/other"},
        keys_dir=Path("/k"),
        environ={"CHAT_FILE_DIR": "/srv/files"},
    )
    assert targets.databases["chat_messages"] == "postgresql://h/other"
    assert targets.keys_dir == Path("/k")
    assert targets.file_dir == Path("/srv/files")
    with pytest.raises(BackupError, match="chat_nope"):
        backup.default_targets(config, databases={"chat_nope": "postgresql://h/f"}, environ={})


def test_the_file_store_defaults_to_the_one_the_stack_gives_file_service() -> None:
    config = replace(StackConfig(root=ROOT), env={"CHAT_FILE_DIR": "/private/files"})
    assert backup.default_targets(config, environ={}).file_dir == Path("/private/files")
    # This environment's CHAT_FILE_DIR wins; an explicit --file-dir over both.
    environ = {"CHAT_FILE_DIR": "/srv/files"}
    assert backup.default_targets(config, environ=environ).file_dir == Path("/srv/files")
    chosen = backup.default_targets(config, file_dir=Path("/x"), environ=environ).file_dir
    assert chosen == Path("/x")


def fake_tool(path: Path, version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {version}'\n")
    path.chmod(0o755)


def test_the_tool_matching_the_server_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    lib = tmp_path / "lib"
    fake_tool(lib / "14" / "bin" / "pg_dump", "14.1")
    fake_tool(lib / "16" / "bin" / "pg_dump", "16.9")
    assert backup.find_tool("pg_dump", 15, environ={}, lib_dir=lib) == str(
        lib / "16" / "bin" / "pg_dump"
    )
    assert backup.find_tool("pg_dump", 14, environ={}, lib_dir=lib).endswith("14/bin/pg_dump")
    with pytest.raises(BackupError, match="postgresql-client-17"):
        backup.find_tool("pg_dump", 17, environ={}, lib_dir=lib)
    chosen = tmp_path / "chosen"
    fake_tool(chosen / "pg_dump", "17.2")
    found = backup.find_tool("pg_dump", 17, environ={"CHAT_PG_BIN": str(chosen)}, lib_dir=lib)
    assert found == str(chosen / "pg_dump")


def test_archives_keep_files_and_modes(tmp_path: Path) -> None:
    source = tmp_path / "keys"
    (source / "sub").mkdir(parents=True)
    (source / "k.key.pem").write_bytes(b"private")
    (source / "k.key.pem").chmod(0o600)
    (source / "k.pub.pem").write_bytes(b"public")
    (source / "sub" / "f").write_bytes(b"x" * 1000)
    (source / ".k2.key.pem.123.tmp").write_bytes(b"half written")
    count = backup.archive_dir(source, tmp_path / "a.tar")
    assert count == 3
    assert not backup.dir_has_entries(tmp_path / "missing")
    target = tmp_path / "out" / "keys"
    backup.extract_archive(tmp_path / "a.tar", target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == [
        "k.key.pem",
        "k.pub.pem",
        "sub",
        "sub/f",
    ]
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "k.key.pem").stat().st_mode) == 0o600
    assert (target / "sub" / "f").read_bytes() == b"x" * 1000


def test_the_file_store_is_archived_without_its_spool(tmp_path: Path) -> None:
    store = tmp_path / "files"
    (store / ".spool").mkdir(parents=True)
    assert not backup.dir_has_entries(store, skip=backup.FILE_STORE_SKIP)
    (store / ".spool" / "upload-in-progress").write_bytes(b"half")
    (store / "0b5e8a1c").write_bytes(b"stored bytes")
    (store / "0b5e8a1c.thumb").write_bytes(b"thumbnail")
    assert backup.dir_has_entries(store, skip=backup.FILE_STORE_SKIP)
    count = backup.archive_dir(store, tmp_path / "files.tar", backup.FILE_STORE_SKIP)
    assert count == 2
    target = tmp_path / "restored"
    backup.extract_archive(tmp_path / "files.tar", target)
    assert sorted(p.name for p in target.iterdir()) == ["0b5e8a1c", "0b5e8a1c.thumb"]


def make_backup(folder: Path) -> Path:
    """A backup folder as `create` writes it, with made-up dumps."""
    folder.mkdir(parents=True)
    (folder / "databases").mkdir()
    manifest = Manifest(created_at="2026-12-06T09:05:01Z", tools={"pg_dump": "15.20"})
    for name in backup.DUMP_ORDER:
        path = folder / "databases" / f"{name}.dump"
        path.write_bytes(f"dump of {name}".encode())
        manifest.databases.append(
            {
                "name": name,
                "file": f"databases/{name}.dump",
                "bytes": path.stat().st_size,
                "sha256": backup.sha256_file(path),
            }
        )
    keys = folder.parent / "keys-source"
    keys.mkdir()
    (keys / "current").write_text("kid")
    count = backup.archive_dir(keys, folder / backup.KEYS_ARCHIVE)
    manifest.archives.append(
        {
            "name": "auth-keys",
            "file": backup.KEYS_ARCHIVE,
            "files": count,
            "bytes": (folder / backup.KEYS_ARCHIVE).stat().st_size,
            "sha256": backup.sha256_file(folder / backup.KEYS_ARCHIVE),
        }
    )
    (folder / backup.MANIFEST).write_text(json.dumps(manifest.to_json()))
    backup.write_sums(folder)
    return folder


def test_a_whole_backup_verifies(tmp_path: Path) -> None:
    folder = make_backup(tmp_path / "chat-20261206T090501Z")
    manifest = backup.verify(folder)
    assert [d["name"] for d in manifest.databases] == list(backup.DUMP_ORDER)
    sums = (folder / backup.SUMS).read_text().splitlines()
    assert any(line.endswith("  databases/chat_auth.dump") for line in sums)
    assert any(line.endswith("  manifest.json") for line in sums)


def test_damage_is_found(tmp_path: Path) -> None:
    folder = make_backup(tmp_path / "chat-20261206T090501Z")
    (folder / "databases" / "chat_messages.dump").write_bytes(b"dump of chat_messageX")
    (folder / "databases" / "chat_presence.dump").unlink()
    (folder / backup.KEYS_ARCHIVE).write_bytes(b"short")
    with pytest.raises(BackupError) as caught:
        backup.verify(folder)
    text = str(caught.value)
    assert "chat_messages.dump: sha256 differs" in text
    assert "chat_presence.dump: missing" in text
    assert "auth-keys.tar: 5 bytes" in text
    assert backup.main(["verify", str(folder)]) == 1


def test_unfinished_and_foreign_folders_are_not_backups(tmp_path: Path) -> None:
    partial = make_backup(tmp_path / "chat-20261206T090501Z.partial")
    with pytest.raises(BackupError, match="unfinished"):
        backup.verify(partial)
    with pytest.raises(BackupError, match="not a backup folder"):
        backup.verify(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / backup.MANIFEST).write_text(json.dumps({"format": "something/9"}))
    with pytest.raises(BackupError, match="unknown backup format"):
        backup.verify(other)


def targets_in(tmp_path: Path) -> Targets:
    return Targets(
        databases={n: f"postgresql://postgres@127.0.0.1:5432/r_{n}" for n in backup.DUMP_ORDER},
        keys_dir=tmp_path / "keys-target",
        file_dir=tmp_path / "files-target",
    )


def test_restore_over_data_is_refused_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_backup(tmp_path / "chat-20261206T090501Z")
    targets = targets_in(tmp_path)
    assert targets.keys_dir is not None
    targets.keys_dir.mkdir()
    (targets.keys_dir / "current").write_text("live key")

    def state(conn: Connection) -> DatabaseState:
        if conn.database == "r_chat_messages":
            return DatabaseState(exists=True, relations=7, connections=2, server_version="15.20")
        return DatabaseState(exists=False, server_version="15.20")

    def no_changes(*args: object, **kwargs: object) -> None:
        raise AssertionError("a refused restore must not touch anything")

    monkeypatch.setattr(backup, "database_state", state)
    monkeypatch.setattr(backup, "recreate_database", no_changes)
    monkeypatch.setattr(backup, "run_tool", no_changes)
    with pytest.raises(Refused) as caught:
        backup.restore(folder, targets, log=lambda line: None)
    text = str(caught.value)
    assert "r_chat_messages holds 7 relation(s)" in text
    assert "2 open connection(s)" in text
    assert f"{targets.keys_dir} is not empty" in text
    assert (targets.keys_dir / "current").read_text() == "live key"


def test_refusal_is_exit_code_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_backup(tmp_path / "chat-20261206T090501Z")
    monkeypatch.setattr(
        backup,
        "database_state",
        lambda conn: DatabaseState(exists=True, relations=1, server_version="15.20"),
    )
    monkeypatch.setenv("CHAT_REPO_ROOT", str(tmp_path))
    args = ["restore", str(folder), "--keys-dir", str(tmp_path / "k")]
    assert backup.main(args) == backup.EXIT_REFUSED


def test_restore_plan_for_fresh_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_backup(tmp_path / "chat-20261206T090501Z")
    monkeypatch.setattr(
        backup, "database_state", lambda conn: DatabaseState(exists=False, server_version="15")
    )
    targets = targets_in(tmp_path)
    plan = backup.plan_restore(folder, backup.verify(folder), targets)
    assert plan.conflicts == []
    assert [conn.database for _, conn, _ in plan.databases] == [
        "r_chat_auth",
        "r_chat_files",
        "r_chat_messages",
        "r_chat_presence",
    ]
    assert [(entry["name"], path) for entry, path in plan.directories] == [
        ("auth-keys", targets.keys_dir)
    ]


def test_a_schema_revision_this_checkout_lacks_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "message-service" / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_initial.py").write_text("revision = '0001'\ndown_revision = None\n")
    (versions / "0002_more.py").write_text('revision: str = "0002a"\ndown_revision = "0001"\n')
    known = backup.known_revisions(StackConfig(root=tmp_path))
    assert known == {"chat_messages": {"0001", "0002a"}}
    folder = make_backup(tmp_path / "chat-20261206T090501Z")
    manifest = backup.verify(folder)
    [messages] = [d for d in manifest.databases if d["name"] == "chat_messages"]
    messages["alembic_revision"] = "0003"
    manifest.git_commit = "abc123"
    monkeypatch.setattr(
        backup, "database_state", lambda conn: DatabaseState(exists=False, server_version="15")
    )
    plan = backup.plan_restore(folder, manifest, targets_in(tmp_path), known)
    [warning] = [w for w in plan.warnings if "revision" in w]
    assert "chat_messages is at schema revision 0003" in warning
    assert "abc123" in warning
    messages["alembic_revision"] = "0001"
    plan = backup.plan_restore(folder, manifest, targets_in(tmp_path), known)
    assert not [w for w in plan.warnings if "revision" in w]
