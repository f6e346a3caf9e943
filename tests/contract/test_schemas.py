"""The schemas themselves: well-formed draft 2020-12, named by their path, shaped as api-v1 says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import chat_contracts
import pytest
from chat_contracts.examples import examples
from jsonschema import Draft202012Validator

pytestmark = pytest.mark.contract

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
SCHEMAS = CONTRACTS / "schemas"
BASE = "https://contracts.chat.invalid/schemas/"
FILES = sorted(SCHEMAS.rglob("*.json"))
IDS = {json.loads(p.read_text(encoding="utf-8"))["$id"] for p in FILES}


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(SCHEMAS)) for p in FILES])
def test_schema_is_well_formed(path: Path) -> None:
    doc = _load(path)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == BASE + str(path.relative_to(SCHEMAS))
    assert doc["title"]
    assert doc["description"]
    for ref in _refs(doc):
        assert urljoin(doc["$id"], ref) in IDS, f"{path.name}: $ref {ref} points nowhere"


@pytest.mark.parametrize("type_name", sorted(chat_contracts.known_types()))
def test_objects_require_their_fields(type_name: str) -> None:
    doc = chat_contracts.schema(type_name)
    assert doc["type"] == "object"
    optional = set(doc["properties"]) - set(doc.get("required", []))
    send_v1_1 = {"text", "kind", "target_id", "emoji", "added", "thread_root_id", "attachments"}
    allowed = {
        # api-v1 §6 shows `{"type":"error","code":"unauthorized"}` without them.
        "ws.server.error.v1": {"message", "ref"},
        # api-v1.1 preamble: `text` optional (required in code for text and edit entries) and
        # the additions of section A, optional on the wire.
        "message.send.v1": send_v1_1,
        "ws.client.message.send.v1": send_v1_1,
        # api-v1.1 preamble item 2: absent (a release before it) means none.
        "ws.server.ready.v1": {"features"},
        # api-v1.1 A: who the ack is for (absent from 0.2.0 producers) and no-op reactions.
        "message.accepted.v1": {"sender_id", "noop"},
        "ws.server.message.ack.v1": {"noop"},
        # api-v1.1 B: a thread's read position; absent means the room's.
        "room.read.v1": {"thread_root_id"},
        "read.v1": {"thread_root_id"},
        "ws.client.read.v1": {"thread_root_id"},
        "ws.server.read.v1": {"thread_root_id"},
        # api-v1.1 C: one of `user_ids` and `all` (the schema's `anyOf`); the spec's
        # `presence.truncated` frame is `{"type": "presence.truncated"}`, the limit an extra.
        "ws.client.presence.subscribe.v1": {"user_ids", "all"},
        "ws.server.presence.truncated.v1": {"limit"},
    }.get(type_name, set())
    assert optional == allowed
    # Additive v1 changes must stay valid, so unknown fields are allowed everywhere.
    assert doc.get("additionalProperties", True) is True


@pytest.mark.parametrize(
    "type_name", sorted(t for t in chat_contracts.known_types() if t.startswith("ws."))
)
def test_frames_pin_their_type(type_name: str) -> None:
    frame_type = type_name.split(".", 2)[2].removesuffix(".v1")
    doc = chat_contracts.schema(type_name)
    assert doc["properties"]["type"]["const"] == frame_type
    assert "type" in doc["required"]
    assert (
        chat_contracts.schema_path(type_name)
        == f"ws/{type_name.split('.')[1]}/{frame_type}.v1.json"
    )


@pytest.mark.parametrize(
    "type_name", sorted(t for t in chat_contracts.known_types() if not t.startswith("ws."))
)
def test_bus_bodies_have_no_type_field(type_name: str) -> None:
    # The AMQP `type` property carries the name.
    assert "type" not in chat_contracts.schema(type_name)["properties"]
    assert chat_contracts.schema_path(type_name) == f"bus/{type_name}.json"


def test_known_types_match_the_architecture_and_api() -> None:
    bus = {
        "message.send.v1",
        "room.read.v1",
        "message.created.v1",
        "member_joined.v1",
        "member_left.v1",
        "read.v1",
        "typing.v1",
        "room.joined.v1",
        "room.left.v1",
        "message.accepted.v1",
        "message.rejected.v1",
        "auth.user.registered.v1",
        "auth.user.updated.v1",
        "auth.block.changed.v1",
        "room.updated.v1",
        "auth.session.revoked.v1",
        "presence.changed.v1",
        "presence.connection.opened.v1",
        "presence.connection.updated.v1",
        "presence.connection.closed.v1",
        "presence.gateway.heartbeat.v1",
        "membership.query.v1",
        "membership.reply.v1",
        "auth.revocations.query.v1",
        "auth.revocations.reply.v1",
        "file.uploaded.v1",
        "file.access.query.v1",
        "file.access.reply.v1",
    }
    client = {
        "auth",
        "message.send",
        "auth.refresh",
        "typing",
        "read",
        "presence.set",
        "presence.subscribe",
        "ping",
    }
    server = {
        "ready",
        "message.ack",
        "message.new",
        "error",
        "typing",
        "read",
        "presence",
        "presence.truncated",
        "room.member_joined",
        "room.member_left",
        "room.updated",
        "resync",
        "pong",
        "reconnect",
    }
    expected = bus | {f"ws.client.{t}.v1" for t in client} | {f"ws.server.{t}.v1" for t in server}
    assert chat_contracts.known_types() == expected


def test_error_codes_are_the_spec_list() -> None:
    schema = _load(SCHEMAS / "common" / "error_code.json")
    # An open set: readers accept codes they do not know (api-v1.1 preamble item 1).
    assert "enum" not in schema
    assert set(schema["x-known-values"]) == {
        # api-v1 §6
        "bad_request",
        "not_a_member",
        "message_too_long",
        "client_msg_id_reused",
        "rate_limited",
        "unavailable",
        "internal",
        "unauthorized",
        # api-v1.1 A (refusals) and F (socket cap)
        "unsupported",
        "feature_disabled",
        "not_found",
        "forbidden",
        "archived",
        "blocked",
        "deactivated",
        "too_many_connections",
    }


@pytest.mark.parametrize("path", sorted(SCHEMAS.rglob("*.json")), ids=lambda p: p.name)
def test_open_enums_are_names_and_closed_enums_stay_closed(path: Path) -> None:
    """`x-known-values` marks an open enum: a string of the name shape, never with `enum`."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "x-known-values" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(_load(path))
    for node in found:
        assert "enum" not in node
        assert node["type"] == "string"
        assert node["pattern"] == "^[a-z][a-z0-9_]*$"
        assert all(re.fullmatch(node["pattern"], v) for v in node["x-known-values"])


# Freshness of the generated names.py and types.py: contracts/tests/unit/test_decode.py runs
# `contracts/generate.py --check` (test_generated_files_are_fresh).


@pytest.mark.parametrize("type_name", sorted(chat_contracts.known_types()))
def test_every_type_has_a_struct_that_decodes_its_valid_examples(type_name: str) -> None:
    struct = chat_contracts.struct_type(type_name)
    assert struct.__name__ == chat_contracts.title_of(type_name)
    assert chat_contracts.contract_of(struct) == type_name
    for example in examples(type_name, valid=True):
        decoded = chat_contracts.decode(type_name, json.dumps(example.body))
        assert isinstance(decoded, struct)
