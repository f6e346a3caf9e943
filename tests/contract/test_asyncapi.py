"""contracts/asyncapi.yaml: AsyncAPI 3.0, consistent with the schemas, registry and topology."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chat_contracts
import pytest
import yaml
from chat_contracts import names
from chat_runtime.messaging import topology

pytestmark = pytest.mark.contract

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
DOC: dict[str, Any] = yaml.safe_load((CONTRACTS / "asyncapi.yaml").read_text(encoding="utf-8"))
REGISTRY: dict[str, Any] = yaml.safe_load((CONTRACTS / "registry.yaml").read_text(encoding="utf-8"))
BUS_TYPES = {t for t in chat_contracts.known_types() if not t.startswith("ws.")}


def _resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOC
    for part in ref[2:].split("/"):
        node = node[part]
    if isinstance(node, dict) and set(node) == {"$ref"}:
        return _resolve(node["$ref"])  # a channel's message is a reference to a component
    return node


def _payload_ref(message: dict[str, Any]) -> str:
    payload = message["payload"]
    ref = payload["schema"]["$ref"] if "schema" in payload else payload["$ref"]
    assert isinstance(ref, str)
    return ref


def test_is_asyncapi_3() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert DOC["info"]["title"]
    assert DOC["info"]["version"]
    assert DOC["defaultContentType"] == "application/json"


def test_every_bus_schema_is_a_message_and_every_message_has_a_schema() -> None:
    messages = DOC["components"]["messages"]
    message_names = {m["name"] for m in messages.values()}
    assert message_names == BUS_TYPES
    for message in messages.values():
        ref = _payload_ref(message)
        assert ref == f"./schemas/{chat_contracts.schema_path(message['name'])}"
        assert (CONTRACTS / ref).is_file(), ref
        assert message["bindings"]["amqp"]["messageType"] == message["name"]


def test_every_message_travels_on_some_channel() -> None:
    used = {
        _resolve(ref["$ref"])["name"]
        for channel in DOC["channels"].values()
        for ref in channel.get("messages", {}).values()
    }
    assert used == BUS_TYPES


def test_exchanges_match_the_architecture() -> None:
    exchanges = {
        c["bindings"]["amqp"]["exchange"]["name"]: c["bindings"]["amqp"]["exchange"]
        for c in DOC["channels"].values()
        if c.get("bindings", {}).get("amqp", {}).get("is") == "routingKey"
    }
    assert exchanges["chat.commands"]["type"] == "direct"
    assert exchanges["chat.events"]["type"] == "topic"
    assert all(e["durable"] for e in exchanges.values())


def test_routing_keys_match_the_architecture() -> None:
    keys = {
        _resolve(ref["$ref"])["name"]: c["address"]
        for c in DOC["channels"].values()
        if c.get("bindings", {}).get("amqp", {}).get("is") == "routingKey"
        for ref in c["messages"].values()
    }
    assert keys["message.send.v1"] == "message.send.v1.{shard}"
    assert keys["room.read.v1"] == "room.read.v1.{shard}"
    for t in ("message.created.v1", "member_joined.v1", "member_left.v1", "read.v1", "typing.v1"):
        assert keys[t] == "room.{room_id}." + t
    for t in ("room.joined.v1", "room.left.v1", "message.accepted.v1", "message.rejected.v1"):
        assert keys[t] == "user.{user_id}." + t
    for t in (
        "auth.user.registered.v1",
        "auth.session.revoked.v1",
        "presence.changed.v1",
        "presence.connection.opened.v1",
        "presence.connection.updated.v1",
        "presence.connection.closed.v1",
        "presence.gateway.heartbeat.v1",
    ):
        assert keys[t] == t


def _queue_args(cid: str) -> dict[str, Any]:
    args: dict[str, Any] = DOC["channels"][cid]["x-queue-arguments"]
    return args


def test_command_queues_are_quorum_with_explicit_arguments() -> None:
    for cid in ("sendQueue", "readQueue", "messageServiceEventsQueue"):
        assert DOC["channels"][cid]["bindings"]["amqp"]["queue"]["durable"] is True
        args = _queue_args(cid)
        assert args["x-queue-type"] == "quorum"
        assert args["x-dead-letter-exchange"] == "chat.dlx"
        assert args["x-dead-letter-routing-key"] == "<queue>"
        assert args["x-dead-letter-strategy"] == "at-least-once"
        assert args["x-overflow"] == "reject-publish"
        assert args["x-delivery-limit"] == 5
    for cid in ("sendQueue", "readQueue"):
        assert _queue_args(cid)["x-single-active-consumer"] is True


def test_queue_arguments_are_the_runtime_topology() -> None:
    """The document describes what chat_runtime.messaging.topology really declares."""

    def described(cid: str, name: str) -> dict[str, Any]:
        return {k: (name if v == "<queue>" else v) for k, v in _queue_args(cid).items()}

    name = names.send_queue(0)
    assert described("sendQueue", name) == topology.quorum_queue_arguments(name, single_active=True)
    name = names.read_queue(3)
    assert described("readQueue", name) == topology.quorum_queue_arguments(name, single_active=True)
    name = names.MESSAGE_EVENTS_QUEUE
    assert described("messageServiceEventsQueue", name) == topology.quorum_queue_arguments(name)


def test_operations_reference_existing_channels_and_messages() -> None:
    for op_id, op in DOC["operations"].items():
        assert op["action"] in ("send", "receive"), op_id
        channel = _resolve(op["channel"]["$ref"])
        for ref in op["messages"]:
            # AsyncAPI 3: an operation's messages are a subset of its channel's.
            assert ref["$ref"].startswith(op["channel"]["$ref"] + "/messages/"), op_id
            _resolve(ref["$ref"])
        assert channel["messages"]
        if "reply" in op:
            for ref in op["reply"]["messages"]:
                assert ref["$ref"].startswith(op["reply"]["channel"]["$ref"] + "/messages/"), op_id
                _resolve(ref["$ref"])


def test_operations_agree_with_the_registry() -> None:
    roles = {
        entry["type"]: {
            "producers": {u["service"] for u in entry["producers"]},
            "consumers": {u["service"] for u in entry["consumers"]},
        }
        for entry in REGISTRY["types"]
    }
    for op_id, op in DOC["operations"].items():
        sending = op["action"] == "send"
        services = op.get("x-producers" if sending else "x-consumers", [])
        assert services, f"{op_id}: say who does it"
        for ref in op["messages"]:
            name = _resolve(ref["$ref"])["name"]
            role = "producers" if sending else "consumers"
            assert set(services) <= roles[name][role], f"{op_id}: {services} not {role} of {name}"
        for ref in op.get("reply", {}).get("messages", []):
            name = _resolve(ref["$ref"])["name"]
            # A request's reply flows the other way.
            role = "consumers" if sending else "producers"
            assert set(services) <= roles[name][role], f"{op_id}: {services} not {role} of {name}"
