"""decode/encode against the JSON Schema judge, on every committed fixture, and the names module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import chat_contracts
import pytest
from chat_contracts import ContractError, UnknownTypeError, names, types
from chat_contracts.examples import Example, examples

pytestmark = pytest.mark.unit

CONTRACTS = Path(__file__).resolve().parents[2]
ROOM = "3d6f9a2c-1b4e-47d8-9a0c-5e7f1b3d2a4c"
USER = "6f1c2a3e-8b4d-4f5a-9c1e-2d3b4a5c6e7f"
CMID = "e4c7b2a1-9d3f-4e8b-a6c5-1f2e3d4c5b6a"


def _known_fields(example: Example) -> Any:
    """The example's body without the fields its schema does not name (decode drops those:
    readers ignore unknown fields, api-v1.1 preamble item 1), at every depth."""

    def strip(node: Any, schema: dict[str, Any], path: Path) -> Any:
        while "$ref" in schema:
            path = (path.parent / schema["$ref"]).resolve()
            schema = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(node, dict) and "properties" in schema:
            props = schema["properties"]
            return {k: strip(v, props[k], path) for k, v in node.items() if k in props}
        if isinstance(node, list) and "items" in schema:
            return [strip(item, schema["items"], path) for item in node]
        return node

    path = CONTRACTS / "schemas" / chat_contracts.schema_path(example.type_name)
    return strip(example.body, chat_contracts.schema(example.type_name), path)


def _id(example: Example) -> str:
    return example.path


# -- every fixture: same verdict as the schema, and the wire shape survives a round trip ---------


@pytest.mark.parametrize("example", examples(valid=True), ids=_id)
def test_valid_fixtures_decode_and_encode_back_unchanged(example: Example) -> None:
    raw = json.dumps(example.body, ensure_ascii=False).encode()
    decoded = chat_contracts.decode(example.type_name, raw)
    assert isinstance(decoded, chat_contracts.struct_type(example.type_name))
    assert chat_contracts.contract_of(decoded) == example.type_name
    encoded = chat_contracts.encode(decoded)
    # Equal JSON, and equal types too: 10 stays 10 and 10.0 stays 10.0, timestamps as given.
    back = json.loads(encoded)
    expected = _known_fields(example)
    assert back == expected
    assert json.dumps(back, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert chat_contracts.decode(example.type_name, encoded) == decoded


@pytest.mark.parametrize("example", examples(valid=False), ids=_id)
def test_invalid_fixtures_are_refused_with_the_schemas_problems(example: Example) -> None:
    assert not chat_contracts.is_valid(example.type_name, example.body)
    with pytest.raises(ContractError) as caught:
        chat_contracts.decode(example.type_name, json.dumps(example.body))
    assert caught.value.type_name == example.type_name
    assert caught.value.problems == chat_contracts.problems(example.type_name, example.body)


def test_every_contract_has_a_struct_named_by_its_title() -> None:
    assert set(types.STRUCTS) == chat_contracts.known_types()
    for type_name, struct in types.STRUCTS.items():
        assert struct.__name__ == chat_contracts.title_of(type_name)
        assert chat_contracts.contract_of(struct) == type_name
        assert struct.__struct_config__.frozen


# -- the API ---------------------------------------------------------------------------------


def test_decode_accepts_str_and_bytes_and_ignores_unknown_fields() -> None:
    frame = {"type": "typing", "room_id": ROOM, "from_a_newer_client": [1, 2]}
    for data in (json.dumps(frame), json.dumps(frame).encode()):
        typing = chat_contracts.decode(names.WS_CLIENT_TYPING_V1, data)
        assert typing == types.WsClientTypingV1(type="typing", room_id=ROOM)


def test_decoded_structs_are_frozen() -> None:
    read = chat_contracts.decode(
        names.READ_V1, json.dumps({"room_id": ROOM, "user_id": USER, "seq": 3})
    )
    assert isinstance(read, types.ReadV1)
    with pytest.raises(AttributeError):
        read.seq = 4  # type: ignore[misc]


def test_unknown_type_is_its_own_error() -> None:
    with pytest.raises(UnknownTypeError):
        chat_contracts.decode("message.created.v2", b"{}")
    with pytest.raises(UnknownTypeError):
        chat_contracts.struct_type("message.created.v2")


def test_refusal_lists_problems_in_plain_words() -> None:
    frame = {"type": "message.send", "client_msg_id": None, "room_id": "general", "text": "  "}
    with pytest.raises(ContractError) as caught:
        chat_contracts.decode(names.WS_CLIENT_MESSAGE_SEND_V1, json.dumps(frame))
    assert [(p.path, p.keyword) for p in caught.value.problems] == [
        ("$.client_msg_id", "type"),
        ("$.room_id", "format"),
        ("$.text", "pattern"),
    ]
    assert "$.room_id: must be a UUID" in str(caught.value)


def test_too_long_text_is_a_max_length_problem() -> None:
    frame = {"type": "message.send", "client_msg_id": CMID, "room_id": ROOM, "text": "é" * 4001}
    with pytest.raises(ContractError) as caught:
        chat_contracts.decode(names.WS_CLIENT_MESSAGE_SEND_V1, json.dumps(frame))
    assert [(p.path, p.keyword) for p in caught.value.problems] == [("$.text", "maxLength")]
    frame["text"] = "é" * 4000  # code points, not bytes
    chat_contracts.decode(names.WS_CLIENT_MESSAGE_SEND_V1, json.dumps(frame))


def test_malformed_json_is_refused() -> None:
    for data in (b'{"type":', b"\xff", b""):
        with pytest.raises(ContractError) as caught:
            chat_contracts.decode(names.WS_CLIENT_PING_V1, data)
        assert caught.value.problems[0].keyword == "json"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-11-26T15:04:05.123Z", True),
        ("2026-11-26T17:04:05+02:00", True),
        ("2016-12-31T23:59:60Z", True),  # leap second
        ("2026-02-30T15:04:05Z", False),  # a date that does not exist
        ("2026-11-26T24:00:00Z", False),
        ("2026-11-26T15:04:61Z", False),  # only 60, a leap second, is more than 59
        ("2026-11-26T15:04:05+12:60", False),
        ("2026-11-26T15:04:05+24:00", False),
        ("2026-11-26T15:04:05Z\n", False),
        ("2026-11-26T15:04:05", False),
    ],
)
def test_timestamps_are_checked_like_the_schema(value: str, ok: bool) -> None:
    body = json.dumps({"user_id": USER, "status": "online", "last_seen_at": value})
    assert chat_contracts.is_valid(names.PRESENCE_CHANGED_V1, json.loads(body)) is ok
    if ok:
        changed = chat_contracts.decode(names.PRESENCE_CHANGED_V1, body)
        assert isinstance(changed, types.PresenceChangedV1)
        assert changed.last_seen_at == value  # kept as sent
    else:
        with pytest.raises(ContractError):
            chat_contracts.decode(names.PRESENCE_CHANGED_V1, body)


def test_a_uuid_with_a_final_newline_is_refused() -> None:
    # JSON Schema patterns are ECMA 262: `$` is the end of the string, not "before a final \n".
    body = json.dumps({"type": "typing", "room_id": ROOM + "\n"})
    assert not chat_contracts.is_valid(names.WS_CLIENT_TYPING_V1, json.loads(body))
    with pytest.raises(ContractError):
        chat_contracts.decode(names.WS_CLIENT_TYPING_V1, body)


def test_unique_items_are_checked() -> None:
    frame = json.dumps({"type": "presence.subscribe", "user_ids": [USER, ROOM, USER]})
    with pytest.raises(ContractError) as caught:
        chat_contracts.decode(names.WS_CLIENT_PRESENCE_SUBSCRIBE_V1, frame)
    assert [p.keyword for p in caught.value.problems] == ["uniqueItems"]
    with pytest.raises(ValueError, match="must not repeat"):
        types.MembershipReplyV1(user_id=USER, room_ids=[ROOM, ROOM])


def test_an_integral_float_for_an_integer_is_refused_though_the_schema_accepts_it() -> None:
    """The one known difference: JSON Schema counts 1.0 as an integer, msgspec does not.

    No producer writes one (Python ints and JavaScript's JSON.stringify(1) give ``1``); a body
    that does is dead-lettered with the reason.
    """
    body = {"room_id": ROOM, "user_id": USER, "seq": 1.0}
    assert chat_contracts.is_valid(names.READ_V1, body)
    with pytest.raises(ContractError) as caught:
        chat_contracts.decode(names.READ_V1, json.dumps(body))
    assert caught.value.problems[0].path == "$.seq"


def test_optional_fields_are_left_out_when_absent() -> None:
    bare = types.WsServerErrorV1(type="error", code="unauthorized")
    assert chat_contracts.encode(bare) == b'{"type":"error","code":"unauthorized"}'
    full = types.WsServerErrorV1(type="error", code="bad_request", message="no", ref=None)
    assert json.loads(chat_contracts.encode(full)) == {
        "type": "error",
        "code": "bad_request",
        "message": "no",
        "ref": None,
    }
    assert chat_contracts.decode(names.WS_SERVER_ERROR_V1, chat_contracts.encode(bare)) == bare


def test_numbers_keep_their_json_kind() -> None:
    beat = {"gateway_id": ROOM, "sent_at": "2026-11-26T15:04:05Z", "connections": []}
    for interval in (10, 10.0, 2.5):
        data = json.dumps({**beat, "interval_s": interval})
        decoded = chat_contracts.decode(names.PRESENCE_GATEWAY_HEARTBEAT_V1, data)
        sent = json.loads(chat_contracts.encode(decoded))["interval_s"]
        assert json.dumps(sent) == json.dumps(interval)


def test_contract_of_refuses_what_is_not_a_contract() -> None:
    message = types.Message  # a shared object, not a contract
    with pytest.raises(TypeError):
        chat_contracts.contract_of(message)


# -- names -----------------------------------------------------------------------------------


def test_names_are_the_architecture() -> None:
    assert (names.EXCHANGE_COMMANDS, names.EXCHANGE_EVENTS, names.EXCHANGE_DLX) == (
        "chat.commands",
        "chat.events",
        "chat.dlx",
    )
    assert names.MESSAGE_SEND_V1 == "message.send.v1"
    assert names.MEMBER_JOINED_V1 == "member_joined.v1"
    assert names.AUTH_REVOCATIONS_QUERY_V1 == "auth.revocations.query.v1"
    assert names.WS_SERVER_ROOM_MEMBER_JOINED_V1 == "ws.server.room.member_joined.v1"
    assert names.AUTH_QUERY_QUEUE == "auth-service.query"
    assert names.MESSAGE_QUERY_QUEUE == "message-service.query"
    assert names.MESSAGE_EVENTS_QUEUE == "message-service.events"
    assert names.DIRECT_REPLY_TO == "amq.rabbitmq.reply-to"
    assert names.send_queue(3) == "message-service.send.3"
    assert names.read_queue(0) == "message-service.read.0"
    assert names.send_routing_key(7) == "message.send.v1.7"
    assert names.read_routing_key(2) == "room.read.v1.2"
    assert names.room_key(ROOM, names.MESSAGE_CREATED_V1) == f"room.{ROOM}.message.created.v1"
    assert names.user_key(USER, names.ROOM_JOINED_V1) == f"user.{USER}.room.joined.v1"
    assert names.gateway_queue("g1") == "gateway.g1"
    assert names.presence_signals_queue("r1") == "presence-service.signals.r1"
    assert names.dead_queue("message-service.read.0") == "message-service.read.0.dead"


def test_every_contract_has_a_name_constant() -> None:
    constants = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    assert chat_contracts.known_types() <= constants


# -- the generated files are current ----------------------------------------------------------


def test_generated_files_are_fresh() -> None:
    done = subprocess.run(
        [sys.executable, str(CONTRACTS / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
