"""Backups of the product on this machine, and their restore (`make backup`, `make restore`).

    python -m chat_devtools.backup create  [--out DIR] [--database NAME=URL ...] [--keys-dir DIR]
                                           [--file-dir DIR] [--skip-keys]
    python -m chat_devtools.backup verify  BACKUP
    python -m chat_devtools.backup restore BACKUP [--force] [--database NAME=URL ...]
                                           [--keys-dir DIR] [--file-dir DIR]

A backup is one folder, `var/backups/chat-<UTC time>/` (mode 0700: it holds password hashes and
the private signing key):

    manifest.json                 format, times, tool/server/package versions, sha256 of each file
    SHA256SUMS                    the same checksums for `sha256sum -c` (and the manifest's)
    databases/chat_auth.dump      pg_dump --format=custom of every service database, in
    databases/chat_files.dump     DUMP_ORDER, producers of events before their consumers: auth
    databases/chat_messages.dump  first, so a user who registers while the dumps run lands in
    databases/chat_presence.dump  message-service's directory too or only there (the other order
                                  would leave users nobody can open a DM with); files before
                                  messages, so every file a message's attachments name is known
                                  to message-service's projection (file.uploaded.v1)
    auth-keys.tar                 auth-service's CHAT_AUTH_KEYS_DIR (sessions stay valid)
    files.tar                     file-service's local store (CHAT_FILE_DIR, default var/files;
                                  its .spool of unfinished uploads left out), archived after the
                                  dumps so every chat_files row has its bytes; absent when the
                                  store is empty (with CHAT_FILE_STORAGE=s3 the bucket is backed
                                  up by its own versioning/replication, docs/operations.md)

It is written as `<name>.partial/` and renamed when complete, so a folder without that suffix is
a whole backup. `NAME` in `--database NAME=URL` is the service database (`chat_auth`, ...); the
URL says where it is (backup) or where it goes (restore); by default the `make run` databases.

Restore checks every sha256 first, then refuses (exit 2, nothing changed) when a target database
is not empty, has connections, or the keys / file directory is not empty, unless `--force`: then
the databases are dropped and re-created, and non-empty directories are moved aside to
`<dir>.before-restore-<time>` (never deleted: they may hold the only copy of a key).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from chat_devtools.config import StackConfig, config_from_env
from chat_devtools.infra import asyncpg_dsn, run_sync

FORMAT = "chat-backup/1"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
KEYS_ARCHIVE = "auth-keys.tar"
FILES_ARCHIVE = "files.tar"
PARTIAL_SUFFIX = ".partial"
# Producers of events before their consumers (see the module docstring).
DUMP_ORDER = ("chat_auth", "chat_files", "chat_messages", "chat_presence")
# Not archived from the file store: uploads in progress (file-service's CHAT_FILE_SPOOL_DIR
# default), removed by file-service at start anyway.
FILE_STORE_SKIP = (".spool",)
PACKAGES = (
    "auth-service",
    "gateway-service",
    "message-service",
    "presence-service",
    "file-service",
    "chat-runtime",
    "chat-contracts",
    "chat-devtools",
)
EXIT_REFUSED = 2
REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


class BackupError(RuntimeError):
    """The backup or restore cannot go on; the message says why and what to do."""


class Refused(BackupError):
    """Restoring would overwrite something; nothing was changed (use --force)."""


# -- small pure helpers ----------------------------------------------------------------------


def backup_name(now: datetime) -> str:
    return "chat-" + now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def utc_iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def major_version(text: str) -> int:
    """15 from 'pg_dump (PostgreSQL) 15.20 (Debian ...)', '15.20', '16beta1' or '150020'."""
    match = re.search(r"\d+", text)
    if match is None:
        raise BackupError(f"cannot read a PostgreSQL version from {text!r}")
    number = int(match.group(0))
    return number // 10000 if number >= 10000 else number


def parse_database_args(values: Sequence[str]) -> dict[str, str]:
    """`NAME=URL` pairs from --database; NAME is the service database (chat_auth, ...)."""
    result: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url:
            raise BackupError(f"--database wants NAME=URL, got {value!r}")
        if name in result:
            raise BackupError(f"--database {name} given twice")
        result[name] = url
    return result


@dataclass(frozen=True)
class Connection:
    """A database URL split for libpq tools: a URI without password, the password apart."""

    uri: str
    password: str | None
    database: str

    @classmethod
    def of(cls, url: str) -> Connection:
        parts = urlsplit(asyncpg_dsn(url))
        if parts.scheme not in ("postgresql", "postgres"):
            raise BackupError(f"not a PostgreSQL URL: {redact(url)}")
        database = parts.path.lstrip("/")
        if not database:
            raise BackupError(f"no database name in {redact(url)}")
        netloc = parts.hostname or "127.0.0.1"
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        uri = urlunsplit(("postgresql", netloc, "/" + database, parts.query, ""))
        return cls(uri=uri, password=parts.password, database=database)

    def with_database(self, name: str) -> Connection:
        parts = urlsplit(self.uri)
        uri = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
        return Connection(uri=uri, password=self.password, database=name)

    def asyncpg_dsn(self) -> str:
        if self.password is None:
            return self.uri
        parts = urlsplit(self.uri)
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user}:{self.password}@{host}" if user else parts.netloc
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))

    def env(self) -> dict[str, str]:
        """The environment for pg_dump/pg_restore: the password never on a command line."""
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = unquote(self.password)
        return env


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# -- what to back up -------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """Where the data is (backup) or goes (restore)."""

    databases: Mapping[str, str]  # service database name -> URL
    keys_dir: Path | None
    file_dir: Path


def default_file_dir(config: StackConfig, environ: Mapping[str, str]) -> Path:
    """file-service's local store: CHAT_FILE_DIR of this environment, else the one the stack
    gives file-service (`make run`: var/files), else var/files."""
    value = environ.get("CHAT_FILE_DIR")
    if value:
        return Path(value)
    for spec in config.services:
        if spec.name == "file":
            given = config.service_env(spec, spec.ports[0]).get("CHAT_FILE_DIR")
            if given:
                return Path(given)
    return config.root / "var" / "files"


def default_targets(
    config: StackConfig,
    databases: Mapping[str, str] | None = None,
    keys_dir: Path | None = None,
    file_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Targets:
    """The `make run` databases, keys and file store, with the given overrides."""
    env = os.environ if environ is None else environ
    urls: dict[str, str] = {}
    for spec in config.services:
        url = config.database_url_for(spec)
        if spec.database is not None and url is not None:
            urls[spec.database] = url
    unknown = sorted(set(databases or {}) - set(urls))
    if unknown:
        raise BackupError(f"unknown database(s) {unknown}; the product's are {sorted(urls)}")
    urls.update(databases or {})
    ordered = {n: urls[n] for n in DUMP_ORDER if n in urls}
    ordered.update({n: u for n, u in urls.items() if n not in ordered})
    if keys_dir is None:
        auth = [s for s in config.services if s.name == "auth"]
        if auth:
            keys_dir = Path(config.service_env(auth[0], auth[0].ports[0])["CHAT_AUTH_KEYS_DIR"])
    return Targets(
        databases=ordered, keys_dir=keys_dir, file_dir=file_dir or default_file_dir(config, env)
    )


# -- PostgreSQL tools ------------------------------------------------------------------------


def tool_version(binary: str) -> str:
    proc = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        raise BackupError(f"{binary} --version failed: {proc.stderr.strip()}")
    match = re.search(r"\d+(?:\.\d+)*", proc.stdout)
    return match.group(0) if match else proc.stdout.strip()


def find_tool(
    tool: str,
    server_major: int,
    environ: Mapping[str, str] | None = None,
    lib_dir: Path = Path("/usr/lib/postgresql"),
) -> str:
    """pg_dump/pg_restore able to talk to a server of `server_major`: CHAT_PG_BIN, else
    /usr/lib/postgresql/<major>/bin (the same major, or the oldest newer one), else PATH."""
    env = os.environ if environ is None else environ
    candidates: list[str] = []
    if env.get("CHAT_PG_BIN"):
        candidates.append(str(Path(env["CHAT_PG_BIN"]) / tool))
    if lib_dir.is_dir():
        majors = sorted(int(p.name) for p in lib_dir.iterdir() if p.name.isdigit())
        candidates += [str(lib_dir / str(m) / "bin" / tool) for m in majors if m >= server_major]
    on_path = shutil.which(tool)
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        usable = Path(candidate).is_file() and os.access(candidate, os.X_OK)
        if usable and major_version(tool_version(candidate)) >= server_major:
            return candidate
    found = ", ".join(candidates) or "none"
    raise BackupError(
        f"no {tool} for a PostgreSQL {server_major} server (looked at: {found}): install "
        f"postgresql-client-{server_major} or set CHAT_PG_BIN to its bin directory"
    )


def run_tool(argv: list[str], conn: Connection, what: str) -> None:
    proc = subprocess.run(
        argv, env=conn.env(), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        last = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BackupError(f"{what} failed (exit {proc.returncode}):\n{last}")


# -- database questions (asyncpg) ------------------------------------------------------------

USER_RELATIONS = """
    SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      AND n.nspname NOT LIKE 'pg_temp%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
"""


@dataclass(frozen=True)
class DatabaseState:
    exists: bool
    relations: int = 0
    connections: int = 0
    server_version: str = ""
    alembic_revision: str | None = None


async def _state(conn: Connection) -> DatabaseState:
    admin = await asyncpg.connect(conn.with_database("postgres").asyncpg_dsn(), timeout=10)
    try:
        version = str(await admin.fetchval("SHOW server_version"))
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", conn.database)
        if not exists:
            return DatabaseState(exists=False, server_version=version)
        connections = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            conn.database,
        )
    finally:
        await admin.close()
    db = await asyncpg.connect(conn.asyncpg_dsn(), timeout=10)
    try:
        relations = int(await db.fetchval(USER_RELATIONS))
        revision: str | None = None
        if await db.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL"):
            revision = await db.fetchval("SELECT version_num FROM alembic_version LIMIT 1")
    finally:
        await db.close()
    return DatabaseState(
        exists=True,
        relations=relations,
        connections=int(connections),
        server_version=version,
        alembic_revision=revision,
    )


def database_state(conn: Connection) -> DatabaseState:
    try:
        return run_sync(lambda: _state(conn))
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"cannot reach {conn.uri}: {exc}") from exc


async def _recreate(conn: Connection, drop: bool) -> None:
    admin = await asyncpg.connect(conn.with_database("postgres").asyncpg_dsn(), timeout=10)
    try:
        # Identifiers cannot be bound parameters; quote_ident via the server.
        quoted = await admin.fetchval("SELECT quote_ident($1)", conn.database)
        if drop:
            await admin.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", conn.database)
        if not exists:
            await admin.execute(f"CREATE DATABASE {quoted}")
    finally:
        await admin.close()


def recreate_database(conn: Connection, *, drop: bool) -> None:
    """Create the database when missing; with drop, drop it first (its connections ended)."""
    try:
        run_sync(lambda: _recreate(conn, drop))
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"cannot create {conn.database} at {conn.uri}: {exc}") from exc


# -- archives of directories -----------------------------------------------------------------


def archive_dir(source: Path, target: Path, skip: Sequence[str] = ()) -> int:
    """Every file and directory under `source` into an uncompressed tar, except the top-level
    entries named in `skip` (and what is under them); returns the file count."""
    count = 0
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(source.rglob("*")):
            if path.relative_to(source).parts[0] in skip:
                continue
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            if path.is_file() and path.name.startswith(".") and path.name.endswith(".tmp"):
                continue  # a key being written at this moment (auth_service.keys)
            tar.add(path, arcname=str(path.relative_to(source)), recursive=False)
            count += path.is_file()
    return count


def extract_archive(archive: Path, target: Path) -> None:
    """Into an empty or missing `target` (mode 0700), keeping the archived file modes."""
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(target, 0o700)
    with tarfile.open(archive, "r") as tar:
        tar.extractall(target, filter="data")


def dir_has_entries(path: Path, skip: Sequence[str] = ()) -> bool:
    return path.is_dir() and any(p.name not in skip for p in path.iterdir())


# -- the manifest ----------------------------------------------------------------------------


@dataclass
class Manifest:
    created_at: str
    finished_at: str = ""
    host: str = ""
    tools: dict[str, str] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    databases: list[dict[str, Any]] = field(default_factory=list)
    archives: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "host": self.host,
            "tools": self.tools,
            "packages": self.packages,
            "git_commit": self.git_commit,
            "databases": self.databases,
            "archives": self.archives,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise BackupError(f"unknown backup format {data.get('format')!r} (this reads {FORMAT})")
        return cls(
            created_at=str(data["created_at"]),
            finished_at=str(data.get("finished_at", "")),
            host=str(data.get("host", "")),
            tools=dict(data.get("tools", {})),
            packages=dict(data.get("packages", {})),
            git_commit=data.get("git_commit"),
            databases=list(data["databases"]),
            archives=list(data.get("archives", [])),
            notes=list(data.get("notes", [])),
        )

    def files(self) -> Iterator[dict[str, Any]]:
        yield from self.databases
        yield from self.archives

    def archive(self, name: str) -> dict[str, Any] | None:
        return next((a for a in self.archives if a["name"] == name), None)


def read_manifest(backup: Path) -> Manifest:
    path = backup / MANIFEST
    if backup.name.endswith(PARTIAL_SUFFIX):
        raise BackupError(f"{backup} is an unfinished backup (its run was interrupted)")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"no {MANIFEST} in {backup}: not a backup folder") from None
    except json.JSONDecodeError as exc:
        raise BackupError(f"{path} is not valid JSON: {exc}") from exc
    return Manifest.from_json(data)


def verify(backup: Path) -> Manifest:
    """The manifest, once every file it lists has its recorded size and sha256."""
    manifest = read_manifest(backup)
    problems: list[str] = []
    for entry in manifest.files():
        path = backup / entry["file"]
        if not path.is_file():
            problems.append(f"{entry['file']}: missing")
        elif path.stat().st_size != entry["bytes"]:
            problems.append(f"{entry['file']}: {path.stat().st_size} bytes, {entry['bytes']} saved")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['file']}: sha256 differs from the manifest")
    if problems:
        raise BackupError(f"{backup} is damaged:\n  " + "\n  ".join(problems))
    return manifest


def write_sums(folder: Path) -> None:
    """SHA256SUMS beside the manifest: `sha256sum -c SHA256SUMS` checks a backup without
    Python (the compose service's restore does)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != SUMS)
    lines = [f"{sha256_file(p)}  {p.relative_to(folder)}\n" for p in files]
    (folder / SUMS).write_text("".join(lines))
    for path in (*files, folder / SUMS):
        os.chmod(path, 0o600)


def package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def git_commit(root: Path) -> str | None:
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    proc = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


# -- create ----------------------------------------------------------------------------------

Log = Callable[[str], None]


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


def create(
    targets: Targets,
    out_dir: Path,
    *,
    root: Path | None = None,
    skip_keys: bool = False,
    now: datetime | None = None,
    log: Log = _stderr,
) -> Path:
    """Write a complete backup folder under `out_dir` and return its path."""
    started = now or datetime.now(UTC)
    connections = {name: Connection.of(url) for name, url in targets.databases.items()}
    states = {name: database_state(conn) for name, conn in connections.items()}
    missing = [f"{n} ({connections[n].uri})" for n, s in states.items() if not s.exists]
    if missing:
        raise BackupError(
            f"database(s) not found: {', '.join(missing)}; start the product once (make run) "
            "or point --database NAME=URL at them"
        )
    keys = None if skip_keys else targets.keys_dir
    if keys is not None and not dir_has_entries(keys):
        raise BackupError(
            f"auth-service's signing keys are not at {keys}: without them every session ends "
            "after a restore. Pass --keys-dir, or --skip-keys to back up without them."
        )
    server_major = max(major_version(s.server_version) for s in states.values())
    pg_dump = find_tool("pg_dump", server_major)

    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / backup_name(started)
    if final.exists():
        raise BackupError(f"{final} exists already (two backups within one second?)")
    work = final.with_name(final.name + PARTIAL_SUFFIX)
    shutil.rmtree(work, ignore_errors=True)
    (work / "databases").mkdir(mode=0o700, parents=True)
    os.chmod(work, 0o700)
    manifest = Manifest(
        created_at=utc_iso(started),
        host=socket.gethostname(),
        tools={
            "pg_dump": tool_version(pg_dump),
            "server": next(iter(states.values())).server_version,
        },
        packages=package_versions(),
        git_commit=git_commit(root) if root is not None else None,
    )
    try:
        for name, conn in connections.items():
            rel = f"databases/{name}.dump"
            t0 = time.monotonic()
            run_tool(
                [pg_dump, "--format=custom", "--no-password", f"--file={work / rel}", conn.uri],
                conn,
                f"pg_dump of {name}",
            )
            os.chmod(work / rel, 0o600)
            manifest.databases.append(
                {
                    "name": name,
                    "source_database": conn.database,
                    "file": rel,
                    "bytes": (work / rel).stat().st_size,
                    "sha256": sha256_file(work / rel),
                    "server_version": states[name].server_version,
                    "alembic_revision": states[name].alembic_revision,
                    "dumped_at": utc_iso(datetime.now(UTC)),
                }
            )
            log(f"backup: {name} ({conn.database}) dumped in {time.monotonic() - t0:.1f}s")
        if keys is not None:
            _add_archive(manifest, work, "auth-keys", KEYS_ARCHIVE, keys, log)
        else:
            manifest.notes.append("auth-service signing keys not included (--skip-keys)")
        if dir_has_entries(targets.file_dir, skip=FILE_STORE_SKIP):
            _add_archive(
                manifest, work, "files", FILES_ARCHIVE, targets.file_dir, log, FILE_STORE_SKIP
            )
        else:
            manifest.notes.append(f"no file store at {targets.file_dir} (nothing to archive)")
        manifest.finished_at = utc_iso(datetime.now(UTC))
        (work / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
        write_sums(work)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log(f"backup: complete: {final}")
    return final


def _add_archive(
    manifest: Manifest,
    work: Path,
    name: str,
    filename: str,
    source: Path,
    log: Log,
    skip: Sequence[str] = (),
) -> None:
    count = archive_dir(source, work / filename, skip)
    os.chmod(work / filename, 0o600)
    manifest.archives.append(
        {
            "name": name,
            "file": filename,
            "source_dir": str(source),
            "files": count,
            "bytes": (work / filename).stat().st_size,
            "sha256": sha256_file(work / filename),
        }
    )
    log(f"backup: {name}: {count} file(s) from {source}")


# -- restore ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestorePlan:
    """What restore will do, decided before anything changes."""

    databases: list[tuple[dict[str, Any], Connection, DatabaseState]]
    directories: list[tuple[dict[str, Any], Path]]
    conflicts: list[str]
    warnings: list[str]


def known_revisions(config: StackConfig) -> dict[str, set[str]]:
    """The Alembic revisions this checkout has, per service database."""
    found: dict[str, set[str]] = {}
    for spec in config.services:
        versions = config.root / f"{spec.name}-service" / "migrations" / "versions"
        if spec.database is None or not versions.is_dir():
            continue
        found[spec.database] = {
            m.group(1)
            for path in versions.glob("*.py")
            if (m := REVISION.search(path.read_text(errors="replace")))
        }
    return found


def plan_restore(
    backup: Path,
    manifest: Manifest,
    targets: Targets,
    revisions: Mapping[str, set[str]] | None = None,
) -> RestorePlan:
    conflicts: list[str] = []
    warnings: list[str] = []
    databases: list[tuple[dict[str, Any], Connection, DatabaseState]] = []
    for entry in manifest.databases:
        url = targets.databases.get(entry["name"])
        if url is None:
            raise BackupError(f"no target for database {entry['name']}: pass --database NAME=URL")
        conn = Connection.of(url)
        state = database_state(conn)
        if state.exists and state.relations:
            conflicts.append(f"database {conn.database} holds {state.relations} relation(s)")
        if state.exists and state.connections:
            conflicts.append(
                f"database {conn.database} has {state.connections} open connection(s): "
                "stop the services first"
            )
        databases.append((entry, conn, state))
        revision = entry.get("alembic_revision")
        known = (revisions or {}).get(entry["name"])
        if revision and known and revision not in known:
            warnings.append(
                f"{entry['name']} is at schema revision {revision}, which this checkout does not "
                f"have (a backup of newer code?): its service will not start; check out "
                f"{manifest.git_commit or 'the release that made it'}"
            )
    directories: list[tuple[dict[str, Any], Path]] = []
    for entry in manifest.archives:
        target = targets.keys_dir if entry["name"] == "auth-keys" else targets.file_dir
        if entry["name"] not in ("auth-keys", "files") or target is None:
            warnings.append(f"{entry['file']}: no target directory, not restored")
            continue
        if dir_has_entries(target):
            conflicts.append(f"{target} is not empty ({entry['name']})")
        directories.append((entry, target))
    if manifest.archive("auth-keys") is None:
        warnings.append("the backup has no signing keys: every session must sign in again")
    return RestorePlan(databases, directories, conflicts, warnings)


def restore(
    backup: Path,
    targets: Targets,
    *,
    force: bool = False,
    revisions: Mapping[str, set[str]] | None = None,
    log: Log = _stderr,
) -> Manifest:
    """Restore every database and directory of `backup` into `targets` (see module docstring)."""
    manifest = verify(backup)
    plan = plan_restore(backup, manifest, targets, revisions)
    for warning in plan.warnings:
        log(f"restore: warning: {warning}")
    if plan.conflicts and not force:
        raise Refused(
            "restore refused, nothing changed:\n  "
            + "\n  ".join(plan.conflicts)
            + "\nStop the services; restore into other databases (--database NAME=URL) or "
            "overwrite with FORCE=1 (--force: databases dropped, directories moved aside)."
        )
    dumped_with = major_version(manifest.tools.get("pg_dump", "0"))
    server = max((major_version(s.server_version) for _, _, s in plan.databases), default=0)
    pg_restore = find_tool("pg_restore", max(dumped_with, server))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for entry, conn, state in plan.databases:
        t0 = time.monotonic()
        drop = state.exists and bool(state.relations or state.connections)
        recreate_database(conn, drop=drop)
        run_tool(
            [
                pg_restore,
                "--no-password",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={conn.uri}",
                str(backup / entry["file"]),
            ],
            conn,
            f"pg_restore of {entry['name']} into {conn.database}",
        )
        log(f"restore: {entry['name']} -> {conn.database} in {time.monotonic() - t0:.1f}s")
    for entry, target in plan.directories:
        if dir_has_entries(target):
            aside = target.with_name(f"{target.name}.before-restore-{stamp}")
            target.rename(aside)
            log(f"restore: moved the old {target} aside to {aside}")
        extract_archive(backup / entry["file"], target)
        log(f"restore: {entry['name']} -> {target} ({entry['files']} file(s))")
    log(
        f"restore: complete from {backup} (taken {manifest.created_at}); start the services "
        "(make run): they migrate the restored databases to this checkout's schema"
    )
    return manifest


# -- command line ----------------------------------------------------------------------------


def _targets_from_args(args: argparse.Namespace, config: StackConfig) -> Targets:
    return default_targets(
        config,
        databases=parse_database_args(args.database),
        keys_dir=args.keys_dir,
        file_dir=args.file_dir,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_devtools.backup", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="command", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="where service database NAME (chat_auth, chat_messages, chat_presence) is / goes",
    )
    where.add_argument("--keys-dir", type=Path, default=None, help="auth-service's key directory")
    where.add_argument("--file-dir", type=Path, default=None, help="file store (CHAT_FILE_DIR)")
    make = sub.add_parser("create", parents=[where], help="write a new backup folder")
    make.add_argument("--out", type=Path, default=None, help="parent folder (var/backups)")
    make.add_argument("--skip-keys", action="store_true", help="leave the signing keys out")
    check = sub.add_parser("verify", help="check a backup's files against its manifest")
    check.add_argument("backup", type=Path)
    back = sub.add_parser("restore", parents=[where], help="restore a backup folder")
    back.add_argument("backup", type=Path)
    back.add_argument("--force", action="store_true", help="overwrite non-empty targets")
    args = parser.parse_args(argv)
    config = config_from_env()
    try:
        if args.command == "create":
            out = args.out or config.root / "var" / "backups"
            path = create(
                _targets_from_args(args, config), out, root=config.root, skip_keys=args.skip_keys
            )
            print(path)
        elif args.command == "verify":
            manifest = verify(args.backup)
            print(f"{args.backup}: complete, taken {manifest.created_at}")
        else:
            targets = _targets_from_args(args, config)
            revisions = known_revisions(config)
            restore(args.backup, targets, force=args.force, revisions=revisions)
    except Refused as exc:
        _stderr(f"error: {exc}")
        return EXIT_REFUSED
    except BackupError as exc:
        _stderr(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
