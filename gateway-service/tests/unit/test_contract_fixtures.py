"""The gateway's frame parser agrees with the contract fixtures of every client frame."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_service.domain import frames as f

pytestmark = [pytest.mark.unit, pytest.mark.contract]

FIXTURES = Path(__file__).resolve().parents[3] / "contracts" / "fixtures" / "ws" / "client"


def _cases(kind: str) -> list[Path]:
    return sorted(FIXTURES.glob(f"*/{kind}/*.json"))


@pytest.mark.parametrize("path", _cases("valid"), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_valid_fixture_parses(path: Path) -> None:
    assert not isinstance(f.parse_frame(path.read_bytes()), f.FrameError)


@pytest.mark.parametrize(
    "path", _cases("invalid"), ids=lambda p: f"{p.parent.parent.name}/{p.name}"
)
def test_invalid_fixture_is_refused(path: Path) -> None:
    frame_type = path.parent.parent.name.removesuffix(".v1")
    result = f.parse_frame(path.read_bytes())
    # Either refused, or (a valid frame of another type) not taken for this type.
    assert isinstance(result, f.FrameError) or result.type != frame_type


def test_fixtures_exist() -> None:
    if not FIXTURES.is_dir():
        pytest.skip("contracts fixtures not present")
    assert _cases("valid")
