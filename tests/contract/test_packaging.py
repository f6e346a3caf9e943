"""The package works from a wheel's layout: schemas and fixtures inside ``chat_contracts/``.

Images install contracts as a wheel (pyproject force-includes schemas/ and fixtures/), where the
repository fallback does not exist; this rebuilds that layout in a temporary directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import chat_contracts
from chat_contracts.examples import examples
print(json.dumps({
    "file": chat_contracts.__file__,
    "types": len(chat_contracts.known_types()),
    "examples": len(examples()),
    "valid": chat_contracts.is_valid("ws.server.pong.v1", {"type": "pong"}),
}))
"""


def test_schemas_and_fixtures_load_from_inside_the_package(tmp_path: Path) -> None:
    package = tmp_path / "chat_contracts"
    shutil.copytree(CONTRACTS / "src" / "chat_contracts", package)
    shutil.copytree(CONTRACTS / "schemas", package / "schemas")
    shutil.copytree(CONTRACTS / "fixtures", package / "fixtures")
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    seen = json.loads(result.stdout)
    assert seen["file"].startswith(str(tmp_path))
    assert seen["types"] == len(list((CONTRACTS / "schemas").glob("bus/*.json"))) + len(
        list((CONTRACTS / "schemas").glob("ws/*/*.json"))
    )
    assert seen["examples"] == len(list((CONTRACTS / "fixtures").rglob("*.json")))
    assert seen["valid"] is True


def test_pyproject_ships_schemas_and_fixtures() -> None:
    text = (CONTRACTS / "pyproject.toml").read_text(encoding="utf-8")
    assert '"schemas" = "chat_contracts/schemas"' in text
    assert '"fixtures" = "chat_contracts/fixtures"' in text
    assert "fastjsonschema" in text
