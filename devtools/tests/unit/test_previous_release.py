"""chat_devtools.previous_release against a small git repository in tmp_path (not the real one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from chat_devtools.contract_compat import Version
from chat_devtools.previous_release import (
    PreviousReleaseError,
    PreviousTree,
    Release,
    add_worktree,
    checked_out,
    code_differs,
    find_previous_release,
    released,
)

pytestmark = pytest.mark.unit

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
ABSENT_SHA = "0123456789abcdef0123456789abcdef01234567"


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    return done.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def record(root: Path, version: str, sha: str) -> None:
    write(root, {f"contracts/released/{version}/COMMIT": sha + "\n"})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(
        root,
        {
            "libs/chat-runtime/src/chat_runtime/__init__.py": '__version__ = "0.1.0"\n',
            "contracts/src/chat_contracts/__init__.py": "X = 1\n",
            "contracts/schemas/common/message.json": '{"type": "object"}\n',
            "gateway-service/src/gateway_service/__init__.py": '__version__ = "0.1.0"\nA = 1\n',
            "docs/releasing.md": "# Releasing\n",
        },
    )
    root.mkdir(exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    commit(root, "0.1.0 code")
    return root


def release_two(repo: Path) -> tuple[str, str]:
    """0.1.0 = the first commit; 0.2.0 = a commit that changes the gateway's code."""
    first = git(repo, "rev-parse", "HEAD")
    write(
        repo, {"gateway-service/src/gateway_service/__init__.py": '__version__ = "0.1.0"\nA = 2\n'}
    )
    second = commit(repo, "0.2.0 code")
    record(repo, "0.1.0", first)
    record(repo, "0.2.0", second)
    commit(repo, "record the releases")
    return first, second


# -- which release ---------------------------------------------------------------------------


def test_releases_are_ordered_by_semver_and_other_folders_ignored(repo: Path) -> None:
    for version in ("0.10.0", "0.9.0", "0.2.0", "1.0.0-rc.1"):
        record(repo, version, ABSENT_SHA)
    (repo / "contracts/released/notes").mkdir()
    assert [str(r.version) for r in released(repo)] == ["0.2.0", "0.9.0", "0.10.0", "1.0.0-rc.1"]


def test_a_malformed_commit_file_is_named(repo: Path) -> None:
    record(repo, "0.1.0", "9bad6e9")
    with pytest.raises(PreviousReleaseError, match=r"contracts/released/0\.1\.0/COMMIT.*40-hex"):
        released(repo)


def test_a_missing_commit_file_is_named(repo: Path) -> None:
    (repo / "contracts/released/0.1.0/schemas").mkdir(parents=True)
    with pytest.raises(PreviousReleaseError, match=r"contracts/released/0\.1\.0/COMMIT is missing"):
        released(repo)


def test_the_previous_release_is_the_newest_whose_code_differs(repo: Path) -> None:
    first, second = release_two(repo)
    # The tree's code is 0.2.0's: the one before it is the previous release.
    previous = find_previous_release(repo)
    assert (str(previous.version), previous.commit) == ("0.1.0", first)
    # Code changed since 0.2.0 (committed or not): 0.2.0 is the previous release.
    write(repo, {"contracts/schemas/common/message.json": '{"type": "object", "x": 1}\n'})
    previous = find_previous_release(repo)
    assert (str(previous.version), previous.commit) == ("0.2.0", second)


def test_a_version_bump_docs_and_snapshots_are_not_code(repo: Path) -> None:
    first, second = release_two(repo)
    write(
        repo,
        {
            "gateway-service/src/gateway_service/__init__.py": '__version__ = "0.2.0"\nA = 2\n',
            "libs/chat-runtime/src/chat_runtime/__init__.py": '__version__ = "0.2.0"\n',
            "docs/releasing.md": "# Releasing\n\nMore.\n",
            "contracts/released/0.2.0/schemas/common/message.json": "{}\n",
        },
    )
    assert not code_differs(repo, second)
    assert code_differs(repo, first)
    assert str(find_previous_release(repo).version) == "0.1.0"


def test_a_commit_missing_from_the_clone_fails_loudly(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    record(repo, "0.1.0", first)
    record(repo, "0.2.0", ABSENT_SHA)
    with pytest.raises(PreviousReleaseError) as caught:
        find_previous_release(repo)
    text = str(caught.value)
    assert ABSENT_SHA in text
    assert "contracts/released/0.2.0/COMMIT" in text
    assert "git fetch --unshallow" in text
    assert "make test-compat" in text


def test_no_release_recorded(repo: Path) -> None:
    with pytest.raises(PreviousReleaseError, match="make release VERSION"):
        find_previous_release(repo)


def test_a_tree_equal_to_every_release_has_no_previous_one(repo: Path) -> None:
    record(repo, "0.1.0", git(repo, "rev-parse", "HEAD"))
    with pytest.raises(PreviousReleaseError, match=r"equals every recorded release \(0\.1\.0\)"):
        find_previous_release(repo)


def test_at_least() -> None:
    release = Release(Version.parse("0.2.0"), ABSENT_SHA)
    assert release.at_least("0.2.0")
    assert release.at_least("0.1.9")
    assert not release.at_least("0.3.0")
    assert str(release) == "0.2.0 (012345678)"


# -- the old tree ----------------------------------------------------------------------------


def test_worktree_at_the_commit_removed_afterwards(repo: Path, tmp_path: Path) -> None:
    first, _ = release_two(repo)
    release = Release(Version.parse("0.1.0"), first)
    where = tmp_path / "old"
    where.mkdir()
    (where / "left-over").write_text("from an interrupted run")
    with checked_out(repo, release, ["gateway"], path=where) as tree:
        assert tree.path == where
        assert tree.python == sys.executable  # no dependencies declared: the current venv
        assert git(where, "rev-parse", "HEAD") == first
        init = where / "gateway-service/src/gateway_service/__init__.py"
        assert init.read_text().endswith("A = 1\n")
        assert not (where / "left-over").exists()
        (where / "gateway-service/src/gateway_service/__pycache__").mkdir()  # untracked files
        assert str(where) in git(repo, "worktree", "list")
    assert not where.exists()
    assert git(repo, "worktree", "list").count("\n") == 0  # the main tree only


def test_a_worktree_of_a_missing_commit_fails_loudly(repo: Path, tmp_path: Path) -> None:
    release = Release(Version.parse("0.1.0"), ABSENT_SHA)
    with pytest.raises(PreviousReleaseError, match="git fetch --unshallow"):
        add_worktree(repo, release, tmp_path / "old")


def old_tree(root: Path) -> PreviousTree:
    for folder in (
        "contracts/src",
        "libs/lib-b/src",
        "libs/lib-a/src",
        "gateway-service/src",
        "message-service/src",
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return PreviousTree(Release(Version.parse("0.1.0"), ABSENT_SHA), root)


def test_pythonpath_puts_the_old_packages_first(tmp_path: Path) -> None:
    tree = old_tree(tmp_path)
    expected = [
        tmp_path / "contracts/src",
        tmp_path / "libs/lib-a/src",
        tmp_path / "libs/lib-b/src",
        tmp_path / "gateway-service/src",
    ]
    assert tree.source_paths(["gateway"]) == expected
    assert tree.command("gateway") == (
        "/usr/bin/env",
        "PYTHONPATH=" + os.pathsep.join(map(str, expected)),
        sys.executable,
        "-m",
        "gateway_service",
    )
    with pytest.raises(PreviousReleaseError, match="no presence-service/ folder"):
        tree.command("presence")


def test_dependency_problems_name_what_the_current_venv_lacks(tmp_path: Path) -> None:
    tree = old_tree(tmp_path)
    write(
        tmp_path,
        {
            "contracts/pyproject.toml": (
                '[project]\nname = "chat-contracts"\n'
                'dependencies = ["pytest>=1", "chat_runtime", "uvicorn[standard]>=0.1"]\n'
            ),
            "libs/lib-a/pyproject.toml": (
                '[project]\nname = "chat-runtime"\n'
                'dependencies = ["chat-contracts", "no-such-package-here>=1", "pytest<1"]\n'
            ),
            "gateway-service/pyproject.toml": (
                '[project]\nname = "gateway-service"\n'
                "dependencies = [\"packaging; python_version < '3'\"]\n"
            ),
        },
    )
    problems = tree.dependency_problems(["gateway"])
    assert len(problems) == 2, problems
    assert problems[0] == "lib-a: no-such-package-here>=1 (not installed)"
    assert problems[1].startswith("lib-a: pytest<1 (installed: ")


def test_outside_a_git_clone(tmp_path: Path) -> None:
    record(tmp_path, "0.1.0", ABSENT_SHA)
    with pytest.raises(PreviousReleaseError, match="not a git clone"):
        find_previous_release(tmp_path)
