"""The compatibility gate on the real tree: the schemas against the newest released snapshot.

Within a release only additive changes pass (docs/releasing.md lists the rules;
``devtools/tests/unit/test_contract_compat.py`` has one example of each). A change that is not
additive needs a release of tolerant readers first (api-v1.1 preamble), cut with
``make release VERSION=x.y.z``, after which the gate compares with that release.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chat_devtools.contract_compat import check, newest_snapshot, snapshots

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "contracts" / "schemas"
RELEASED = ROOT / "contracts" / "released"


def gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chat_devtools.contract_compat", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_current_schemas_are_compatible_with_the_newest_release() -> None:
    done = gate()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "compatible with release" in done.stdout


def test_every_snapshot_is_the_schemas_of_its_commit() -> None:
    """COMMIT names a commit of this history whose contracts/schemas the snapshot copies."""
    found = snapshots(RELEASED)
    assert found, "contracts/released/ has no snapshot"
    for snapshot in found:
        sha = snapshot.commit
        assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{snapshot.path}/COMMIT: {sha!r}"
        tree = subprocess.run(
            ["git", "-C", str(ROOT), "ls-tree", "-r", sha, "--", "contracts/schemas"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert tree.returncode == 0, f"{snapshot.version}: commit {sha} missing: {tree.stderr}"
        at_commit = {
            line.split("\t", 1)[1].removeprefix("contracts/schemas/"): line.split()[2]
            for line in tree.stdout.splitlines()
        }
        files = sorted(p for p in snapshot.schemas.rglob("*") if p.is_file())
        hashed = subprocess.run(
            ["git", "hash-object", "--", *map(str, files)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        in_snapshot = {
            p.relative_to(snapshot.schemas).as_posix(): h
            for p, h in zip(files, hashed, strict=True)
        }
        assert in_snapshot == at_commit, f"contracts/released/{snapshot.version} was edited"


def test_the_gate_passes_when_the_schemas_equal_the_newest_snapshot() -> None:
    newest = newest_snapshot(RELEASED)
    assert newest is not None
    report = check(newest.schemas, RELEASED)
    assert report.ok, "\n".join(report.lines())
    assert report.compared == len(list(newest.schemas.rglob("*.json")))


def _remove_a_property(tree: Path) -> None:
    path = tree / "bus" / "message.created.v1.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    del doc["properties"]["message"]
    doc["required"].remove("message")
    path.write_text(json.dumps(doc), encoding="utf-8")


def _require_an_optional_property(tree: Path) -> None:
    path = tree / "ws" / "server" / "error.v1.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["required"].append("ref")
    path.write_text(json.dumps(doc), encoding="utf-8")


def _retype(tree: Path) -> None:
    path = tree / "common" / "seq.json"
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    doc["type"] = "string"
    path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize(
    ("breaking", "expected"),
    [
        (_remove_a_property, "bus/message.created.v1.json $.message: property removed or renamed"),
        (_require_an_optional_property, "ws/server/error.v1.json $.ref: tightened"),
        (_retype, 'common/seq.json $: retyped: type "integer" → "string"'),
    ],
    ids=["remove", "tighten", "retype"],
)
def test_the_gate_fails_on_a_breaking_change(
    tmp_path: Path, breaking: Callable[[Path], None], expected: str
) -> None:
    released = tmp_path / "released"
    shutil.copytree(SCHEMAS, released / "99.0.0" / "schemas")
    current = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, current)
    args = ("--schemas", str(current), "--released", str(released))
    assert gate(*args).returncode == 0

    breaking(current)

    done = gate(*args)
    assert done.returncode == 1
    assert "1 incompatible change(s) against release 99.0.0" in done.stdout
    assert expected in done.stdout
