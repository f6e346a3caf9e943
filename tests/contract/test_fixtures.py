"""(a)/(e) Every committed example validates as labelled, forever in v1; (d) each type has one."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import chat_contracts
import pytest
from chat_contracts.examples import Example, examples, type_name_of_dir

pytestmark = pytest.mark.contract

FIXTURES = Path(__file__).resolve().parents[2] / "contracts" / "fixtures"
ALL = examples()


@pytest.mark.parametrize("example", ALL, ids=[e.path for e in ALL])
def test_example_validates_as_labelled(example: Example) -> None:
    if example.valid:
        chat_contracts.validate(example.type_name, example.body)
    else:
        with pytest.raises(chat_contracts.ContractError) as caught:
            chat_contracts.validate(example.type_name, example.body)
        # A readable reason, not the "engines disagree" fallback.
        assert caught.value.problems
        assert all(p.keyword != "schema" for p in caught.value.problems), caught.value


@pytest.mark.parametrize("example", ALL, ids=[e.path for e in ALL])
def test_compiled_and_reference_validators_agree(example: Example) -> None:
    fast = chat_contracts.is_valid(example.type_name, example.body)
    full = not chat_contracts.problems(example.type_name, example.body)
    assert fast == full == example.valid


@pytest.mark.parametrize("type_name", sorted(chat_contracts.known_types()))
def test_every_type_has_valid_and_invalid_examples(type_name: str) -> None:
    assert examples(type_name, valid=True), f"{type_name}: add fixtures/.../valid/*.json"
    assert examples(type_name, valid=False), f"{type_name}: add fixtures/.../invalid/*.json"


def test_every_fixture_directory_names_a_known_type() -> None:
    orphans = []
    for kind_dir in FIXTURES.rglob("*"):
        if kind_dir.is_dir() and kind_dir.name in ("valid", "invalid"):
            parts = kind_dir.parent.relative_to(FIXTURES).parts
            name = type_name_of_dir(parts)
            if name is None or not chat_contracts.is_known(name):
                orphans.append("/".join(parts))
    assert not orphans, f"fixtures for types without a schema: {orphans}"


def test_fixture_files_are_plain_json_objects_or_deliberately_not() -> None:
    # Valid examples are JSON objects: every bus body and frame is one.
    for path in FIXTURES.rglob("valid/*.json"):
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path


def test_invalid_examples_cover_the_usual_mistakes() -> None:
    names = {e.name for e in examples(valid=False)}
    assert any(n.startswith("missing_") for n in names)
    assert any("wrong_type" in n for n in names)
    assert any(n.startswith("bad_uuid") for n in names)


def test_text_limits_count_code_points() -> None:
    # 4000 emoji (8000 UTF-16 units, 16000 bytes) pass; 4001 do not (api-v1 §4).
    frame = {
        "type": "message.send",
        "client_msg_id": "e4c7b2a1-9d3f-4e8b-a6c5-1f2e3d4c5b6a",
        "room_id": "3d6f9a2c-1b4e-47d8-9a0c-5e7f1b3d2a4c",
        "text": "😀" * 4000,
    }
    chat_contracts.validate("ws.client.message.send.v1", frame)
    with pytest.raises(chat_contracts.ContractError) as caught:
        chat_contracts.validate("ws.client.message.send.v1", {**frame, "text": "😀" * 4001})
    assert [(p.path, p.keyword) for p in caught.value.problems] == [("$.text", "maxLength")]


def _lock() -> Any:
    spec = importlib.util.spec_from_file_location(
        "chat_contracts_lock_fixtures", FIXTURES.parent / "lock_fixtures.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_locked_fixtures_are_unchanged_and_new_ones_are_locked() -> None:
    lock = _lock()
    now, before = lock.current(), lock.locked()
    changed = sorted(p for p, h in before.items() if now.get(p) != h)
    assert not changed, f"committed fixtures are forever; restore: {changed}"
    unlocked = sorted(set(now) - set(before))
    assert not unlocked, f"run contracts/lock_fixtures.py to lock new fixtures: {unlocked}"
