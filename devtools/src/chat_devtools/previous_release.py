"""The previous release's code beside the working tree, for the mixed-version test (issue #12).

Every release is recorded in `contracts/released/<version>/COMMIT` (the full sha of the commit
whose code *is* that release). The **previous release** is the newest one (highest semver) whose
code differs from the working tree's: `git diff <COMMIT> -- libs/*/src contracts/src
contracts/schemas *-service/src`, ignoring hunks that only change a `__version__ = ...` line
(the release script bumps those after the recorded commit). Right after a release, its own
code equals the working tree's, so the release before it is used.

`checked_out(root, release)` adds a detached git worktree at that commit under
`var/compat/`, and removes it again afterwards (`git worktree remove --force`, `git worktree
prune`). `PreviousTree.command(service)` is the argv that runs one of its services with the
*current* venv's interpreter and the old tree's `contracts/src`, `libs/*/src` and
`<service>-service/src` first on `PYTHONPATH` (the venv's editable installs are `.pth` entries,
which come after `PYTHONPATH`); `PreviousTree.dependency_problems` says whether the current venv
satisfies every dependency the old packages declare. When it does not, `ensure_python` builds a
venv of the old tree's own (`var/compat/venv-<sha>`, with uv) and the commands use that one.

    python -m chat_devtools.previous_release          # which release, why, and its commit
"""

from __future__ import annotations

import contextlib
import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from chat_devtools import release as release_tool
from chat_devtools.contract_compat import Version, snapshots

RELEASED_DIR = Path("contracts") / "released"
# What "the code" of a release is (the compatibility question is about these, not docs or tests).
CODE_PATHSPECS = (
    ":(glob)libs/*/src/**",
    "contracts/src",
    "contracts/schemas",
    ":(glob)*-service/src/**",
)
# Hunks changing only these lines do not count as a code difference (the release bump).
IGNORED_LINES = r"^__version__ = "
_SHA = re.compile(r"^[0-9a-f]{40}$")


class PreviousReleaseError(RuntimeError):
    """No usable previous release; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Release:
    """One `contracts/released/<version>/` with the commit of its code."""

    version: Version
    commit: str

    @property
    def short(self) -> str:
        return self.commit[:9]

    def at_least(self, version: str) -> bool:
        return self.version >= Version.parse(version)

    def __str__(self) -> str:
        return f"{self.version} ({self.short})"


def released(root: Path) -> list[Release]:
    """Every `contracts/released/<version>/COMMIT`, oldest first, ordered like the compatibility
    gate orders them (semver precedence; folders not named by a semver are ignored). A missing or
    malformed COMMIT file is an error naming the file."""
    releases: list[Release] = []
    for snapshot in snapshots(root / RELEASED_DIR):
        where = (snapshot.path / "COMMIT").relative_to(root)
        commit = snapshot.commit.lower()
        if not commit:
            raise PreviousReleaseError(
                f"{where} is missing or empty: every released version names the commit of its "
                "code there (one line, the full 40-hex sha)."
            )
        if _SHA.match(commit) is None:
            raise PreviousReleaseError(
                f"{where} holds {commit[:60]!r}, not a full 40-hex commit sha: write the sha of "
                "the release's commit there (git rev-parse <commit>)."
            )
        releases.append(Release(snapshot.version, commit))
    return releases


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise PreviousReleaseError(f"git {' '.join(args)} failed: {detail}")
    return proc


def commit_present(root: Path, commit: str) -> bool:
    return _git(root, "cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0


def missing_commit_message(release: Release) -> str:
    return (
        f"release {release.version}: its commit {release.commit} "
        f"(contracts/released/{release.version}/COMMIT) is not in this clone, so the "
        "mixed-version test cannot check out that release's code. A shallow or single-branch "
        "clone (CI) lacks it: run `git fetch --unshallow` (or `git fetch origin "
        f"{release.commit}`), then `make test-compat` again. Never delete or edit a released "
        "COMMIT file to get past this."
    )


def code_differs(root: Path, commit: str) -> bool:
    """True when the working tree's code differs from the code at `commit`."""
    proc = _git(
        root, "diff", "--quiet", "-I", IGNORED_LINES, commit, "--", *CODE_PATHSPECS, check=False
    )
    if proc.returncode in (0, 1):
        return proc.returncode == 1
    raise PreviousReleaseError(f"git diff {commit} failed: {(proc.stderr or proc.stdout).strip()}")


def find_previous_release(root: Path, releases: Sequence[Release] | None = None) -> Release:
    """The newest release whose code differs from the working tree's (see the module doc)."""
    if _git(root, "rev-parse", "--git-dir", check=False).returncode != 0:
        raise PreviousReleaseError(
            f"{root} is not a git clone: the previous release's code is checked out from git "
            "history (git worktree); run this from a clone of the repository."
        )
    candidates = sorted(
        released(root) if releases is None else releases, key=lambda r: r.version, reverse=True
    )
    if not candidates:
        raise PreviousReleaseError(
            f"no release recorded in {RELEASED_DIR}/ (each release has <version>/COMMIT): "
            "record one with `make release VERSION=x.y.z`."
        )
    for release in candidates:
        if not commit_present(root, release.commit):
            raise PreviousReleaseError(missing_commit_message(release))
        if code_differs(root, release.commit):
            return release
    listed = ", ".join(str(r.version) for r in candidates)
    raise PreviousReleaseError(
        f"the working tree's code equals every recorded release ({listed}): there is no older "
        "code to run beside it; record the releases before it in contracts/released/."
    )


# -- the old tree ---------------------------------------------------------------------------------


def _project_name(package_dir: Path) -> str | None:
    pyproject = package_dir / "pyproject.toml"
    if not pyproject.is_file():
        return None
    data = tomllib.loads(pyproject.read_text())
    name = data.get("project", {}).get("name")
    return str(name) if name else None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _extra_requirements(name: str, extra: str) -> list[Requirement]:
    """What `name[extra]` adds to `name` (the plain requirements are checked with the package)."""
    found: list[Requirement] = []
    for line in metadata.requires(name) or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            found.append(req)
    return [r for r in found if r.marker is not None and r.marker.evaluate({"extra": extra})]


def requirement_problem(req: Requirement, extra: str = "") -> str | None:
    """Why the running interpreter does not satisfy `req` (None when it does)."""
    if req.marker is not None and not req.marker.evaluate({"extra": extra}):
        return None
    version = _installed_version(req.name)
    if version is None:
        return f"{req} (not installed)"
    if req.specifier and not req.specifier.contains(version, prereleases=True):
        return f"{req} (installed: {version})"
    for extra_name in sorted(req.extras):
        for extra_req in _extra_requirements(req.name, extra_name):
            problem = requirement_problem(extra_req, extra_name)
            if problem is not None:
                return f"{req}: {problem}"
    return None


@dataclass(frozen=True)
class PreviousTree:
    """A checked-out release: where its packages are and how to run its services."""

    release: Release
    path: Path
    python: str = sys.executable

    def package_dirs(self, services: Sequence[str]) -> list[Path]:
        """contracts, every lib, and the named services (`gateway` -> gateway-service)."""
        dirs = [self.path / "contracts"]
        dirs.extend(sorted(p for p in (self.path / "libs").glob("*") if p.is_dir()))
        for service in services:
            service_dir = self.path / f"{service}-service"
            if not service_dir.is_dir():
                raise PreviousReleaseError(
                    f"release {self.release} has no {service}-service/ folder at {self.path}"
                )
            dirs.append(service_dir)
        return dirs

    def source_paths(self, services: Sequence[str]) -> list[Path]:
        return [d / "src" for d in self.package_dirs(services) if (d / "src").is_dir()]

    def pythonpath(self, services: Sequence[str]) -> str:
        return os.pathsep.join(str(p) for p in self.source_paths(services))

    def dependency_problems(self, services: Sequence[str]) -> list[str]:
        """The old packages' declared dependencies that the running interpreter lacks.

        The packages of the old tree itself (chat-contracts, chat-runtime...) come from its
        PYTHONPATH and are not checked; everything else must be installed in a version the old
        pyproject accepts."""
        dirs = self.package_dirs(services)
        own = {_canonical(n) for d in dirs if (n := _project_name(d)) is not None}
        problems: list[str] = []
        for package_dir in dirs:
            pyproject = package_dir / "pyproject.toml"
            if not pyproject.is_file():
                continue
            project = tomllib.loads(pyproject.read_text()).get("project", {})
            for line in project.get("dependencies", []):
                req = Requirement(line)
                if _canonical(req.name) in own:
                    continue
                problem = requirement_problem(req)
                if problem is not None:
                    problems.append(f"{package_dir.name}: {problem}")
        return problems

    def env(self, services: Sequence[str]) -> dict[str, str]:
        return {"PYTHONPATH": self.pythonpath(services)}

    def command(self, service: str, module: str | None = None) -> tuple[str, ...]:
        """argv running `<service>_service` from this tree (for a ServiceSpec's `command`)."""
        module = module or f"{service}_service"
        assignments = [f"{k}={v}" for k, v in self.env([service]).items()]
        return ("/usr/bin/env", *assignments, self.python, "-m", module)

    def migrate(self, service: str, database_url: str, log_path: Path | None = None) -> None:
        """Upgrade the service's database with this tree's own migrations and code."""
        ini = self.path / f"{service}-service" / "alembic.ini"
        if not ini.is_file():
            return
        code = (
            "import sys; from chat_runtime.db import run_migrations; "
            "run_migrations(sys.argv[1], sys.argv[2])"
        )
        env = {**os.environ, **self.env([service]), "CHAT_DATABASE_URL": database_url}
        proc = subprocess.run(
            [self.python, "-c", code, str(ini), database_url],
            cwd=ini.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("a") as fh:
                fh.write(f"--- migrations {ini} -> {database_url}\n{proc.stdout}{proc.stderr}")
        if proc.returncode != 0:
            last = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise PreviousReleaseError(
                f"migrations of {service}-service at {self.release} failed:\n{last}"
            )


def worktree_dir(root: Path, release: Release) -> Path:
    return root / "var" / "compat" / f"release-{release.version}"


def remove_worktree(root: Path, path: Path) -> None:
    """`git worktree remove --force` (tolerating one that is already gone), then prune."""
    if path.exists():
        proc = _git(root, "worktree", "remove", "--force", str(path), check=False)
        if proc.returncode != 0 and path.exists():
            # Not (or no longer) registered as a worktree: a plain directory left behind.
            shutil.rmtree(path, ignore_errors=True)
    _git(root, "worktree", "prune", check=False)


def add_worktree(root: Path, release: Release, path: Path | None = None) -> PreviousTree:
    """A detached worktree of the release's commit (a stale one at the same place is replaced)."""
    if not commit_present(root, release.commit):
        raise PreviousReleaseError(missing_commit_message(release))
    target = path or worktree_dir(root, release)
    remove_worktree(root, target)  # left over from an interrupted run
    target.parent.mkdir(parents=True, exist_ok=True)
    _git(root, "worktree", "add", "--detach", "--quiet", str(target), release.commit)
    return PreviousTree(release, target)


def find_uv(root: Path) -> str | None:
    """The uv scripts/setup.sh pins (`release.find_uv`), else one on PATH."""
    try:
        return str(release_tool.find_uv(root))
    except release_tool.ReleaseError:
        return shutil.which("uv")


def ensure_python(root: Path, tree: PreviousTree, services: Sequence[str]) -> PreviousTree:
    """The tree, run by the current venv when it satisfies the old dependencies (the usual case),
    else by a venv of the old packages' own (var/compat/venv-<sha>, built once with uv)."""
    problems = tree.dependency_problems(services)
    if not problems:
        return tree
    venv = root / "var" / "compat" / f"venv-{tree.release.short}"
    python = venv / "bin" / "python"
    uv = find_uv(root)
    if uv is None:
        raise PreviousReleaseError(
            f"the current venv lacks dependencies of release {tree.release} "
            f"({'; '.join(problems)}) and uv is not installed to build its own: run `make setup`."
        )
    if not python.exists():
        env = release_tool.uv_environment(root)  # the machine's Python and CA bundle
        steps = [
            [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(python),
                *(a for d in tree.package_dirs(services) for a in ("-e", str(d))),
            ],
        ]
        for step in steps:
            proc = subprocess.run(
                step, capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL
            )
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise PreviousReleaseError(
                    f"building a venv for release {tree.release} failed ({' '.join(step[:3])}): "
                    f"{(proc.stderr or proc.stdout).strip()[-800:]}"
                )
    return PreviousTree(tree.release, tree.path, str(python))


@contextlib.contextmanager
def checked_out(
    root: Path, release: Release, services: Sequence[str], path: Path | None = None
) -> Iterator[PreviousTree]:
    """The release's code in a worktree (and an interpreter able to run `services` from it);
    the worktree is removed on exit."""
    tree = add_worktree(root, release, path)
    try:
        yield ensure_python(root, tree, services)
    finally:
        remove_worktree(root, tree.path)


def main(argv: Sequence[str] | None = None) -> int:
    from chat_devtools.config import find_repo_root

    del argv
    root = find_repo_root()
    try:
        release = find_previous_release(root)
    except PreviousReleaseError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    print(f"previous release: {release.version} at {release.commit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
