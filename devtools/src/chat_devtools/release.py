"""Cut a release: ``make release VERSION=x.y.z`` (``python -m chat_devtools.release x.y.z``).

Run it on a clean tree whose HEAD is the code of the release. It

1. refuses a version that is not semver or not above the newest ``contracts/released/`` snapshot,
   and a dirty tree (``--allow-dirty`` skips that check, for tests and dry runs);
2. writes ``contracts/released/<version>/COMMIT`` (``git rev-parse HEAD``: the code of the
   release) and copies ``contracts/schemas`` to ``contracts/released/<version>/schemas``;
3. sets ``version = "<version>"`` in every uv workspace member's ``pyproject.toml`` (and its
   packages' ``__version__``, which the services report and which stays right when a release's
   code runs from its own tree in the current venv) and in ``frontend/package.json`` (and the
   top-level versions of ``frontend/package-lock.json``), then
   refreshes ``uv.lock`` with the project's pinned uv (offline first: only workspace versions
   change, so the cache has everything; PyPI only when it does not);
4. turns ``## [Unreleased]`` in ``CHANGELOG.md`` into ``## [Unreleased]`` + ``## [<version>] -
   <date>``: what was under Unreleased belongs to the release.

It does not commit: it prints the ``git add`` / ``git commit`` to run. That commit (the version
bump) comes right after the one named in ``COMMIT``. See ``docs/releasing.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat_devtools.config import find_repo_root
from chat_devtools.contract_compat import Version, newest_snapshot

UNRELEASED = "## [Unreleased]"


class ReleaseError(Exception):
    """The release cannot be cut as asked; nothing was written when raised before writing."""


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


# -- version fields ------------------------------------------------------------------------------


def workspace_members(root: Path) -> list[Path]:
    """The directories of the uv workspace (``[tool.uv.workspace] members`` of the root)."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    members: list[str] = config.get("tool", {}).get("uv", {}).get("workspace", {}).get("members")
    if not members:
        raise ReleaseError("pyproject.toml lists no [tool.uv.workspace] members")
    found: list[Path] = []
    for pattern in members:
        matched = sorted(p for p in root.glob(pattern) if (p / "pyproject.toml").is_file())
        if not matched:
            raise ReleaseError(f"workspace member {pattern!r} has no pyproject.toml")
        found += matched
    return found


def set_pyproject_version(text: str, version: str) -> str:
    """``text`` with ``version = "<version>"`` in its ``[project]`` table, nothing else touched."""
    lines = text.splitlines(keepends=True)
    table = ""
    for index, line in enumerate(lines):
        header = re.match(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if header or line.lstrip().startswith("[["):
            table = header.group(1).strip() if header else ""
            continue
        match = re.match(r'^(\s*version\s*=\s*)(["\'])[^"\']*\2(.*)$', line, re.DOTALL)
        if table == "project" and match:
            lines[index] = f'{match.group(1)}"{version}"{match.group(3)}'
            updated = "".join(lines)
            if tomllib.loads(updated)["project"]["version"] != version:  # pragma: no cover
                raise ReleaseError("the version line was not the [project] version")
            return updated
    raise ReleaseError('no `version = "..."` line in the [project] table')


_DUNDER = re.compile(r'^__version__\s*=\s*(["\'])[^"\']*\1[ \t]*$', re.M)


def package_inits(member: Path) -> list[Path]:
    """The ``src/<package>/__init__.py`` files of a workspace member that set ``__version__``."""
    return sorted(
        path
        for path in (member / "src").glob("*/__init__.py")
        if _DUNDER.search(path.read_text(encoding="utf-8"))
    )


def set_dunder_version(text: str, version: str) -> str:
    """``text`` with its ``__version__ = "..."`` line set to ``version``."""
    updated, count = _DUNDER.subn(f'__version__ = "{version}"', text, count=1)
    if count != 1:
        raise ReleaseError("no `__version__ = ...` line")
    return updated


def set_json_versions(text: str, version: str, *, lock: bool) -> str:
    """package.json (or, with ``lock``, package-lock.json) with the new top-level version.

    The file must be what ``JSON.stringify(data, null, 2)`` writes (npm's own format), so only
    the version lines change.
    """
    data: dict[str, Any] = json.loads(text)
    if _npm_json(data) != text:
        raise ReleaseError("not in npm's own format (2-space JSON): rewrite it with npm first")
    if "version" not in data:
        raise ReleaseError('no top-level "version"')
    data["version"] = version
    root_package = data.get("packages", {}).get("") if lock else None
    if isinstance(root_package, dict) and "version" in root_package:
        root_package["version"] = version
    return _npm_json(data)


def _npm_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def changelog_with_release(text: str, version: str, date: str) -> str:
    """``## [Unreleased]`` becomes itself, a blank line and ``## [<version>] - <date>``."""
    lines = text.splitlines(keepends=True)
    found = [i for i, line in enumerate(lines) if line.rstrip() == UNRELEASED]
    if len(found) != 1:
        raise ReleaseError(f"CHANGELOG.md needs exactly one `{UNRELEASED}` line")
    if any(line.startswith(f"## [{version}]") for line in lines):
        raise ReleaseError(f"CHANGELOG.md already has a `## [{version}]` section")
    index = found[0]
    lines[index : index + 1] = [UNRELEASED + "\n", "\n", f"## [{version}] - {date}\n"]
    return "".join(lines)


def unreleased_is_empty(text: str) -> bool:
    """True when nothing but blank lines stands between ``## [Unreleased]`` and the next section."""
    after = text.split(UNRELEASED, 1)[1].split("\n## ", 1)[0]
    return not after.strip()


# -- uv ------------------------------------------------------------------------------------------


def find_uv(root: Path) -> Path:
    """The uv that scripts/setup.sh installs: ``var/tools/uv-<UV_VERSION>/bin/uv``."""
    setup = root / "scripts" / "setup.sh"
    match = re.search(r"^UV_VERSION=(\S+)\s*$", setup.read_text(encoding="utf-8"), re.M)
    if match is None:
        raise ReleaseError("scripts/setup.sh sets no UV_VERSION")
    uv = root / "var" / "tools" / f"uv-{match.group(1)}" / "bin" / "uv"
    if not uv.is_file():
        raise ReleaseError(f"{uv.relative_to(root)} is missing: run `make setup` first")
    return uv


def uv_environment(root: Path) -> dict[str, str]:
    """The environment scripts/setup.sh gives uv (the machine's Python, its CA bundle)."""
    env = dict(os.environ)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_PROJECT_ENVIRONMENT"] = str(root / ".venv")
    if not env.get("SSL_CERT_FILE"):
        for bundle in (env.get("PIP_CERT", ""), "/etc/ssl/certs/ca-certificates.crt"):
            if bundle and Path(bundle).is_file():
                env["SSL_CERT_FILE"] = bundle
                break
    return env


def lock(root: Path, uv: Path) -> str:
    """Refresh uv.lock: offline first (only workspace versions changed), then with the index."""
    env = uv_environment(root)
    errors = []
    for extra in (["--offline"], []):
        done = subprocess.run(
            [str(uv), "lock", "--quiet", *extra],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return "uv lock --offline" if extra else "uv lock"
        errors.append(f"uv lock {' '.join(extra)}: {done.stderr.strip()}")
    raise ReleaseError("could not refresh uv.lock:\n" + "\n".join(errors))


def lock_changes_beyond_versions(before: str, after: str) -> list[str]:
    """Changed uv.lock lines other than ``version = ...`` lines (expected: none)."""
    changed = [
        line[1:].strip()
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return [line for line in changed if not re.match(r'^version = "[^"]*"$', line)]


# -- the release ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Everything checked before anything is written."""

    root: Path
    version: Version
    date: str
    commit: str
    pyprojects: tuple[Path, ...]
    package_json: tuple[Path, ...]  # package.json, then package-lock.json when present
    uv: Path | None  # None: no uv.lock in this tree

    @property
    def snapshot(self) -> Path:
        return self.root / "contracts" / "released" / str(self.version)


def plan(
    root: Path,
    version_text: str,
    *,
    allow_dirty: bool = False,
    date: str | None = None,
    uv: Path | None = None,
) -> Plan:
    """Check that the release can be cut; raise :class:`ReleaseError` saying why not."""
    try:
        version = Version.parse(version_text)
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None
    released = root / "contracts" / "released"
    newest = newest_snapshot(released)
    if newest is not None and not version > newest.version:
        raise ReleaseError(
            f"{version} is not above the newest release {newest.version} "
            f"({newest.path.relative_to(root)})"
        )
    if (released / str(version)).exists():
        raise ReleaseError(f"contracts/released/{version} already exists")
    if not (root / "contracts" / "schemas").is_dir():
        raise ReleaseError("contracts/schemas is missing")
    commit = git(root, "rev-parse", "--verify", "HEAD").strip()
    dirty = git(root, "status", "--porcelain", "--untracked-files=normal")
    if dirty.strip() and not allow_dirty:
        raise ReleaseError(
            "the tree has uncommitted changes: commit the release's code first, so COMMIT names "
            "it (or pass --allow-dirty for a trial run):\n" + dirty.rstrip()
        )
    if date is None:
        date = dt.date.today().isoformat()
    elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise ReleaseError(f"--date {date!r} is not YYYY-MM-DD")
    pyprojects = tuple(member / "pyproject.toml" for member in workspace_members(root))
    for path in pyprojects:
        try:
            set_pyproject_version(path.read_text(encoding="utf-8"), str(version))
        except ReleaseError as exc:
            raise ReleaseError(f"{path.relative_to(root)}: {exc}") from None
    package_json = tuple(
        path
        for path in (root / "frontend" / "package.json", root / "frontend" / "package-lock.json")
        if path.is_file()
    )
    for path in package_json:
        try:
            set_json_versions(path.read_text(encoding="utf-8"), str(version), lock=True)
        except (ReleaseError, ValueError) as exc:
            raise ReleaseError(f"{path.relative_to(root)}: {exc}") from None
    changelog = root / "CHANGELOG.md"
    if not changelog.is_file():
        raise ReleaseError("CHANGELOG.md is missing")
    changelog_with_release(changelog.read_text(encoding="utf-8"), str(version), date)
    locking = (root / "uv.lock").is_file()
    return Plan(
        root=root,
        version=version,
        date=date,
        commit=commit,
        pyprojects=pyprojects,
        package_json=package_json,
        uv=(uv or find_uv(root)) if locking else None,
    )


def execute(release: Plan, say: Callable[[str], None] = print) -> list[Path]:
    """Write the release; return the paths to commit (relative to the root)."""
    root, version = release.root, str(release.version)
    written: list[Path] = []
    try:
        snapshot = release.snapshot
        snapshot.mkdir(parents=True)
        written.append(snapshot)
        shutil.copytree(root / "contracts" / "schemas", snapshot / "schemas")
        (snapshot / "COMMIT").write_text(release.commit + "\n", encoding="utf-8")
        say(f"release: contracts/released/{version}: schemas copied, COMMIT {release.commit}")
        for path in release.pyprojects:
            text = path.read_text(encoding="utf-8")
            path.write_text(set_pyproject_version(text, version), encoding="utf-8")
            written.append(path)
        say(f"release: version {version} in {len(release.pyprojects)} pyproject.toml files")
        inits = [init for path in release.pyprojects for init in package_inits(path.parent)]
        for path in inits:
            text = path.read_text(encoding="utf-8")
            path.write_text(set_dunder_version(text, version), encoding="utf-8")
            written.append(path)
        say(f"release: __version__ {version} in {len(inits)} packages")
        for path in release.package_json:
            text = path.read_text(encoding="utf-8")
            path.write_text(set_json_versions(text, version, lock=True), encoding="utf-8")
            written.append(path)
            say(f"release: version {version} in {path.relative_to(root)}")
        if release.uv is not None:
            before = (root / "uv.lock").read_text(encoding="utf-8")
            how = lock(root, release.uv)
            written.append(root / "uv.lock")
            say(f"release: uv.lock refreshed ({how})")
            others = lock_changes_beyond_versions(before, (root / "uv.lock").read_text("utf-8"))
            if others:
                say(
                    "release: WARNING: uv.lock changed beyond versions (a dependency changed "
                    "without `uv lock`?):\n  " + "\n  ".join(others[:20])
                )
        changelog = root / "CHANGELOG.md"
        text = changelog.read_text(encoding="utf-8")
        if unreleased_is_empty(text):
            say("release: WARNING: CHANGELOG.md says nothing under [Unreleased]")
        changelog.write_text(changelog_with_release(text, version, release.date), "utf-8")
        written.append(changelog)
        say(f"release: CHANGELOG.md: ## [{version}] - {release.date}")
    except Exception as exc:
        done = " ".join(shlex.quote(str(p.relative_to(root))) for p in written)
        raise ReleaseError(
            f"stopped half way ({exc}). Already written: {done or 'nothing'}. Undo with "
            f"`git checkout -- . && rm -rf contracts/released/{version}`, fix, run again."
        ) from exc
    return [p.relative_to(root) for p in written]


def next_commands(release: Plan, paths: Sequence[Path]) -> list[str]:
    quoted = " ".join(shlex.quote(p.as_posix()) for p in paths)
    return [
        f"git add {quoted}",
        f"git commit -m {shlex.quote(f'Release {release.version}')}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chat_devtools.release",
        description="Cut a release: snapshot the schemas, bump every version, date the "
        "CHANGELOG. Does not commit. See docs/releasing.md.",
    )
    parser.add_argument("version", help="the new version, semver, above the newest release")
    parser.add_argument(
        "--allow-dirty", action="store_true", help="skip the clean-tree check (tests, trials)"
    )
    parser.add_argument("--date", help="the CHANGELOG date (YYYY-MM-DD; default: today)")
    parser.add_argument("--uv", type=Path, help="the uv binary (default: the one setup installs)")
    parser.add_argument("--root", type=Path, help="the repository (default: this one)")
    args = parser.parse_args(argv)
    root = (args.root or find_repo_root()).resolve()
    try:
        release = plan(root, args.version, allow_dirty=args.allow_dirty, date=args.date, uv=args.uv)
        paths = execute(release)
    except ReleaseError as exc:
        print(f"release: refused: {exc}", file=sys.stderr)
        return 1
    print(f"release: {release.version} ready (COMMIT {release.commit[:12]}). Check, then run:")
    for command in next_commands(release, paths):
        print(f"  {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
