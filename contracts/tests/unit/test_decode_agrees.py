"""Property: ``decode`` and the JSON Schema give the same verdict on generated and mutated bodies.

The judge is the compiled schema (``is_valid``). Integral floats (``1.0``) are left out of the
generated values: JSON Schema counts them as integers, msgspec does not (test_decode.py pins that
one known difference down).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC
from typing import Any

import chat_contracts
import pytest
from chat_contracts import ContractError, names
from chat_contracts.examples import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

TYPES = [
    names.MESSAGE_SEND_V1,
    names.MESSAGE_CREATED_V1,
    names.WS_CLIENT_MESSAGE_SEND_V1,
    names.PRESENCE_GATEWAY_HEARTBEAT_V1,
]
UUID = "3d6f9a2c-1b4e-47d8-9a0c-5e7f1b3d2a4c"
# Values near the edges of the rules in those schemas.
TRICKY = st.sampled_from(
    [
        UUID,
        UUID.upper(),
        UUID + "\n",
        UUID.replace("-", ""),
        "{" + UUID + "}",
        "2026-11-26T15:04:05.123Z",
        "2026-11-26T15:04:05+00:00",
        "2026-02-29T15:04:05Z",
        "2028-02-29T15:04:05Z",
        "2016-12-31T23:59:60Z",
        "2026-11-26T15:04:05+24:00",
        "2026-11-26T15:04:05Z\n",
        "2026-11-26T15:04:05",
        "online",
        "away",
        "offline",
        "text",
        "system",
        " ",
        "\t\n",
        "",
        "é" * 4000,
        "é" * 4001,
        0,
        1,
        -1,
        2**70,
        0.5,
        True,
        None,
    ]
)
FLOATS = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | FLOATS | st.text(max_size=8) | TRICKY,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
VALID = [e for e in examples(valid=True) if e.type_name in TYPES]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:3]):
            out += _paths(value, (*prefix, index))
    return out


def _same_verdict(type_name: str, body: Any) -> None:
    data = json.dumps(body, ensure_ascii=False)
    judge = chat_contracts.is_valid(type_name, body)
    try:
        chat_contracts.decode(type_name, data)
        decoded = True
    except ContractError:
        decoded = False
    assert decoded == judge, (type_name, body)


def test_every_important_type_has_valid_examples() -> None:
    assert {e.type_name for e in VALID} == set(TYPES)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decode_agrees_with_the_schema_on_mutated_examples(data: st.DataObject) -> None:
    example = data.draw(st.sampled_from(VALID))
    body = copy.deepcopy(example.body)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(body)))
        if not path:
            body = data.draw(JSON_VALUES)
            break
        parent: Any = body
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=6))] = data.draw(JSON_VALUES)
        elif action == "add" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[-1]) if parent else data.draw(JSON_VALUES))
        else:
            parent[path[-1]] = data.draw(JSON_VALUES)
    _same_verdict(example.type_name, body)


UUIDS = st.uuids().map(str)
TIMESTAMPS = st.datetimes(timezones=st.just(UTC)).map(
    lambda t: t.isoformat().replace("+00:00", "Z")
)
# Mostly a valid value per field, so that both verdicts come up.
GOOD: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(
        ["client_msg_id", "room_id", "sender_id", "session_id", "gateway_id", "connection_id"],
        UUIDS,
    ),
    "user_id": UUIDS,
    "id": UUIDS,
    "text": st.text(min_size=1, max_size=12),
    "seq": st.integers(1, 2**40),
    "kind": st.sampled_from(["text", "edit", "delete", "system"]),
    "created_at": TIMESTAMPS,
    "sent_at": TIMESTAMPS,
    "interval_s": st.integers(1, 60) | st.floats(0.001, 1e6).filter(lambda f: not f.is_integer()),
    "status": st.sampled_from(["online", "away"]),
    "type": st.just("message.send"),
}


@st.composite
def _objects(draw: st.DrawFn, keys: list[str], nested: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        dice = draw(st.integers(0, 29))
        if dice == 0:
            continue  # missing
        if dice == 1:
            out[key] = draw(JSON_VALUES)
        elif dice == 2:
            out[key] = draw(TRICKY)
        else:
            out[key] = draw(nested[key]) if key in nested else draw(GOOD[key])
    return out


MESSAGE_KEYS = ["id", "room_id", "seq", "kind", "sender_id", "text", "client_msg_id", "created_at"]
CONNECTION_KEYS = ["connection_id", "user_id", "status"]
GENERATED: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    names.MESSAGE_SEND_V1: _objects(
        [
            "client_msg_id",
            "room_id",
            "sender_id",
            "session_id",
            "text",
            "gateway_id",
            "connection_id",
        ],
        {},
    ),
    names.MESSAGE_CREATED_V1: _objects(["message"], {"message": _objects(MESSAGE_KEYS, {})}),
    names.WS_CLIENT_MESSAGE_SEND_V1: _objects(["type", "client_msg_id", "room_id", "text"], {}),
    names.PRESENCE_GATEWAY_HEARTBEAT_V1: _objects(
        ["gateway_id", "sent_at", "interval_s", "connections"],
        {"connections": st.lists(_objects(CONNECTION_KEYS, {}), max_size=3)},
    ),
}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decode_agrees_with_the_schema_on_generated_bodies(data: st.DataObject) -> None:
    type_name = data.draw(st.sampled_from(TYPES))
    _same_verdict(type_name, data.draw(GENERATED[type_name]))
