"""chat_contracts' API: names, errors that say what is wrong, and two engines that agree."""

from __future__ import annotations

import copy
from typing import Any

import chat_contracts
import pytest
from chat_contracts import ContractError, UnknownTypeError
from chat_contracts.examples import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

ROOM = "3d6f9a2c-1b4e-47d8-9a0c-5e7f1b3d2a4c"
CMID = "e4c7b2a1-9d3f-4e8b-a6c5-1f2e3d4c5b6a"


def _send(**changes: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "message.send",
        "client_msg_id": CMID,
        "room_id": ROOM,
        "text": "hi",
    }
    frame.update(changes)
    return frame


def test_names_follow_the_architecture() -> None:
    assert chat_contracts.is_known("message.created.v1")
    assert chat_contracts.is_known("ws.client.message.send.v1")
    assert chat_contracts.is_known("ws.server.ready.v1")
    assert not chat_contracts.is_known("message.created.v2")
    assert not chat_contracts.is_known("message.send")
    assert "membership.reply.v1" in chat_contracts.known_types()


def test_valid_body_passes_and_unknown_fields_are_ignored() -> None:
    chat_contracts.validate("ws.client.message.send.v1", _send(extra={"from": "a newer client"}))


def test_error_lists_every_problem_in_plain_words() -> None:
    with pytest.raises(ContractError) as caught:
        chat_contracts.validate(
            "ws.client.message.send.v1", _send(room_id="general", text="   ", client_msg_id=None)
        )
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.type_name == "ws.client.message.send.v1"
    assert [(p.path, p.keyword) for p in error.problems] == [
        ("$.client_msg_id", "type"),
        ("$.room_id", "format"),
        ("$.text", "pattern"),
    ]
    text = str(error)
    assert "$.room_id: must be a UUID" in text
    assert "'general'" in text
    assert "$.text: must contain at least one non-whitespace character" in text
    assert "$.client_msg_id: must be of type string, got null" in text


def test_missing_field_is_named() -> None:
    frame = _send()
    del frame["room_id"]
    with pytest.raises(ContractError, match="missing required field 'room_id'"):
        chat_contracts.validate("ws.client.message.send.v1", frame)


def test_long_values_are_shortened_in_messages() -> None:
    problems = chat_contracts.problems(
        "ws.client.typing.v1", {"type": "typing", "room_id": "x" * 5000}
    )
    assert len(problems) == 1
    assert len(problems[0].message) < 200


def test_too_long_text_says_how_long() -> None:
    problems = chat_contracts.problems("ws.client.message.send.v1", _send(text="é" * 4001))
    assert [p.message for p in problems] == ["must be at most 4000 characters (it has 4001)"]


@pytest.mark.parametrize(
    "value",
    [
        "3d6f9a2c1b4e47d89a0c5e7f1b3d2a4c",  # no hyphens
        "{3d6f9a2c-1b4e-47d8-9a0c-5e7f1b3d2a4c}",
        "urn:uuid:3d6f9a2c-1b4e-47d8-9a0c-5e7f1b3d2a4c",
        "3d6f9a2c-1b4e-47d8-9a0c-5e7f1b3d2a4",
        "3d6f9a2g-1b4e-47d8-9a0c-5e7f1b3d2a4c",
        "3d6f9a2c-1b4e-47d8-9a0c-5e7f1b3d2_4c",  # int() would take the underscore
        "3d6f9a2c-1b4e-47d8-9a0c-5e7f1b3d2a4c\n",
        "",
    ],
)
def test_uuids_are_checked(value: str) -> None:
    assert not chat_contracts.is_valid("ws.client.typing.v1", {"type": "typing", "room_id": value})


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-11-26T15:04:05.123Z", True),
        ("2026-11-26T15:04:05Z", True),
        ("2026-11-26T15:04:05.123456+00:00", True),
        ("2026-11-26T17:04:05+02:00", True),
        ("2016-12-31T23:59:60Z", True),  # leap second
        ("2026-11-26T15:04:05", False),  # no offset
        ("2026-11-26 15:04:05Z", False),
        ("2026-02-30T15:04:05Z", False),
        ("2026-11-26T24:00:00Z", False),
        ("2026-11-26T15:04:05+24:00", False),
        ("26/11/2026", False),
    ],
)
def test_timestamps_are_rfc3339(value: str, ok: bool) -> None:
    body = {"user_id": ROOM, "status": "online", "last_seen_at": value}
    assert chat_contracts.is_valid("presence.changed.v1", body) is ok
    assert (not chat_contracts.problems("presence.changed.v1", body)) is ok


def test_booleans_are_not_integers() -> None:
    assert not chat_contracts.is_valid(
        "ws.client.read.v1", {"type": "read", "room_id": ROOM, "seq": True}
    )


def test_unknown_type_is_its_own_error() -> None:
    with pytest.raises(UnknownTypeError) as caught:
        chat_contracts.validate("message.created.v2", {})
    assert isinstance(caught.value, ContractError)
    assert "message.created.v2" in str(caught.value)
    for call in (
        chat_contracts.schema,
        chat_contracts.schema_path,
        chat_contracts.title_of,
        chat_contracts.struct_type,
    ):
        with pytest.raises(UnknownTypeError):
            call("nope.v1")


def test_schema_is_a_copy() -> None:
    first = chat_contracts.schema("read.v1")
    first["required"].clear()
    assert chat_contracts.schema("read.v1")["required"] == ["room_id", "user_id", "seq"]


# -- the compiled validator and the reference validator agree -------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 5000)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from([ROOM, CMID, "2026-11-26T15:04:05Z", "online", "away", "text", " ", ""]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
VALID = [e for e in examples(valid=True)]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:3]):
            out += _paths(value, (*prefix, index))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_engines_agree_on_mutated_examples(data: st.DataObject) -> None:
    example = data.draw(st.sampled_from(VALID))
    body = copy.deepcopy(example.body)
    path = data.draw(st.sampled_from(_paths(body)))
    action = data.draw(st.sampled_from(["replace", "delete"]))
    if not path:
        body = data.draw(JSON_VALUES)
    else:
        parent: Any = body
        for part in path[:-1]:
            parent = parent[part]
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON_VALUES)
    fast = chat_contracts.is_valid(example.type_name, body)
    problems = chat_contracts.problems(example.type_name, body)
    assert fast == (not problems), (example.type_name, body, problems)
    if not fast:
        with pytest.raises(ContractError):
            chat_contracts.validate(example.type_name, body)
