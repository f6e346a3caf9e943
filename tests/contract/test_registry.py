"""contracts/registry.yaml against the schemas and against the code.

(b) every known type is in the registry and vice versa; (c) a static scan of the services', the
runtime's and the devtools' Python sources finds the types each module names:
``chat_contracts.names`` constants (``names.MESSAGE_CREATED_V1``, ``from chat_contracts.names
import X``; a names function whose address holds a type, ``names.send_routing_key``, names it too),
``chat_contracts.types`` structs (``types.MessageCreatedV1``: their ``__contract__``; nested
structs such as ``types.Message`` are no contract) and ``"<dotted>.v1"`` string literals (also as a
piece of a routing key like ``f"room.{id}.message.created.v1"``). A module that names a type must
be listed against it, every listed module must exist and name its type, and every type must have
a schema. (c') services and the runtime type no wire name by hand: no string literal holds a type
name, an exchange, a queue or a piece of a queue/key template of ``chat_contracts.names`` (prose,
i.e. docstrings and text with spaces, and the subprotocol ``"chat.v1"`` excepted). (d) every type
has a valid example that its consumers' schema accepts (one schema per type).
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import chat_contracts
import pytest
import yaml
from chat_contracts import names as wire_names
from chat_contracts import types as wire_types
from chat_contracts.examples import examples

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
REGISTRY: dict[str, Any] = yaml.safe_load(
    (REPO / "contracts" / "registry.yaml").read_text(encoding="utf-8")
)
SERVICES: dict[str, dict[str, str]] = REGISTRY["services"]
ENTRIES: list[dict[str, Any]] = REGISTRY["types"]
ROLES = ("producers", "consumers", "routers")
PYTHON_SERVICES = sorted(name for name, s in SERVICES.items() if s["language"] == "python")
# Product code takes every wire name from chat_contracts.names (test tooling may name its own
# private queues, so devtools is scanned for types but not held to this rule).
WIRE_NAME_FREE = sorted(
    {"auth-service", "gateway-service", "message-service", "presence-service", "file-service",
     "chat-runtime"}
)

TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\.v1")
# What is filled in at run time: an f-string's values, {x} / %s placeholders, AMQP wildcards.
HOLE = "\x00"
PLACEHOLDER = re.compile(r"\{[^}]*\}|%[sdr]|[*#]")
# Literals that look like type names but are not bus/frame contracts.
NOT_CONTRACTS = {"chat.v1": "the WebSocket subprotocol (api-v1 §6)"}


# -- what chat_contracts names ----------------------------------------------------------------


def _type_names_in(text: str) -> set[str]:
    """Type names in a literal's text: the pieces between holes, outer dots stripped."""
    return {piece.strip(".") for piece in text.split(HOLE) if TYPE_NAME.fullmatch(piece.strip("."))}


def _functions() -> dict[str, tuple[str, bool]]:
    """names function → (its address with HOLE for each parameter, whether a parameter is int)."""
    out: dict[str, tuple[str, bool]] = {}
    for attr, value in vars(wire_names).items():
        if inspect.isfunction(value) and value.__module__ == wire_names.__name__:
            params = inspect.signature(value).parameters.values()
            template = value(*[HOLE for _ in params])
            assert isinstance(template, str)
            out[attr] = (template, any(p.annotation in (int, "int") for p in params))
    return out


FUNCTIONS = _functions()
# Constants of chat_contracts.names: a contract's name (type name → constant), and the rest:
# exchanges, queues, reply-to (constant → address).
CONSTANT_OF = {
    value: attr
    for attr, value in vars(wire_names).items()
    if attr.isupper() and isinstance(value, str) and chat_contracts.is_known(value)
}
ADDRESSES = {
    attr: value
    for attr, value in vars(wire_names).items()
    if attr.isupper() and isinstance(value, str) and not chat_contracts.is_known(value)
}


def _contract_symbols() -> dict[str, frozenset[str]]:
    """Dotted path of a chat_contracts symbol → the contract names it stands for."""
    out: dict[str, frozenset[str]] = {}
    for value, attr in CONSTANT_OF.items():
        out[f"chat_contracts.names.{attr}"] = frozenset({value})
    for attr, (template, _) in FUNCTIONS.items():
        named = frozenset(n for n in _type_names_in(template) if chat_contracts.is_known(n))
        if named:
            out[f"chat_contracts.names.{attr}"] = named
    for attr, value in vars(wire_types).items():
        contract = getattr(value, "__contract__", None)
        if isinstance(value, type) and isinstance(contract, str):
            out[f"chat_contracts.types.{attr}"] = frozenset({contract})
    return out


CONTRACT_SYMBOLS = _contract_symbols()


# -- scanning --------------------------------------------------------------------------------


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal but docstrings, with HOLE where text is filled in."""
    skip = _docstrings(tree)
    for node in ast.walk(tree):  # breadth first: an f-string comes before its pieces
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            text = "".join(
                PLACEHOLDER.sub(HOLE, v.value)
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
                else HOLE
                for v in node.values
            )
            yield node.lineno, text
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        ):
            yield node.lineno, PLACEHOLDER.sub(HOLE, node.value)


def _is_prose(text: str) -> bool:
    return re.search(r"\s", text) is not None


def _bindings(tree: ast.AST) -> dict[str, str]:
    """Local name → the dotted path it was imported as (``names`` → ``chat_contracts.names``)."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    out[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


def _dotted(node: ast.expr, bindings: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return bindings.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, bindings)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _symbols(tree: ast.AST) -> set[str]:
    """Contract names a module takes from chat_contracts.names / chat_contracts.types."""
    bindings = _bindings(tree)
    paths = set(bindings.values())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)):
            path = _dotted(node, bindings)
            if path is not None:
                paths.add(path)
    return {name for path in paths for name in CONTRACT_SYMBOLS.get(path, ())}


def names_in_source(source: str) -> set[str]:
    """Type names a module names: through chat_contracts, or in string literals (not prose)."""
    tree = ast.parse(source)
    found = _symbols(tree)
    for _, text in _literals(tree):
        if not _is_prose(text):
            found |= _type_names_in(text)
    return found


VERSIONED = "a chat_contracts.names constant of the type"


def _wire_patterns() -> list[tuple[re.Pattern[str], str]]:
    """(pattern, what to use instead) for every wire name a literal must not hold."""
    # Pieces of a dotted name: a hand-written literal cannot be told from a concatenated one.
    edge_before, edge_after = r"(?<![\w.-])", r"(?![\w.-])"
    out = [
        # "x.v1", "ws.client.{kind}.v1", "{type}.v1": a versioned type name.
        (re.compile(r"[.\x00]v1(?![^.\x00])|(?<![^.\x00])v1[.\x00]"), VERSIONED),
    ]
    for attr, value in ADDRESSES.items():
        out.append((re.compile(rf"(?<![\w-]){re.escape(value)}(?![\w-])"), f"names.{attr}"))
    for attr, (template, has_int) in FUNCTIONS.items():
        parts = template.split(HOLE)
        hole = r"(?:\x00|\d+)" if has_int else HOLE
        alternatives = [
            (edge_before if parts[0] else "")
            + hole.join(re.escape(p) for p in parts)
            + (edge_after if parts[-1] else "")
        ]
        if parts[0]:  # the head of a concatenation: "gateway." + gateway_id
            alternatives.append(edge_before + re.escape(parts[0]) + r"\Z")
        if parts[-1]:  # its tail: name + ".dead"
            alternatives.append(r"\A" + re.escape(parts[-1]) + edge_after)
        # A service's own name ("message-service.send") is a queue name wherever it stands.
        alternatives += [
            rf"(?<![\w-]){re.escape(p.strip('.'))}(?![\w-])" for p in parts if "-" in p
        ]
        out.append((re.compile("|".join(alternatives)), f"names.{attr}()"))
    return out


WIRE_PATTERNS = _wire_patterns()


def wire_literals(source: str) -> list[tuple[int, str, str]]:
    """(line, literal, what to use instead) for each hand-typed wire name in a module."""
    found = []
    for line, text in _literals(ast.parse(source)):
        if _is_prose(text) or text in NOT_CONTRACTS:
            continue
        for pattern, instead in WIRE_PATTERNS:
            if pattern.search(text):
                known = sorted(n for n in _type_names_in(text) if n in CONSTANT_OF)
                constants = [f"names.{CONSTANT_OF[n]}" for n in known]
                use = " + ".join(constants) if constants and instead == VERSIONED else instead
                found.append((line, text.replace(HOLE, "{…}"), use))
                break
    return sorted(found)


def _sources(service: str) -> Iterator[tuple[str, Path]]:
    """(module name, path) of every Python module of a service."""
    src = REPO / SERVICES[service]["src"]
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


@cache
def modules_of(service: str) -> dict[str, set[str]]:
    """Module name → type names it names, for one Python service."""
    return {
        module: names_in_source(path.read_text(encoding="utf-8"))
        for module, path in _sources(service)
    }


def _covers(listed: str, module: str) -> bool:
    return module == listed or module.startswith(listed + ".")


def listed_modules() -> dict[tuple[str, str], set[str]]:
    """(type, service) → modules the registry lists for it in any role."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entry in ENTRIES:
        for role in ROLES:
            for user in entry.get(role, []):
                out[(entry["type"], user["service"])].add(user["module"])
    return out


# -- (b) registry and schemas ----------------------------------------------------------------


def test_registry_and_schemas_list_the_same_types() -> None:
    listed = [e["type"] for e in ENTRIES]
    assert len(listed) == len(set(listed)), "a type is listed twice"
    assert set(listed) - chat_contracts.known_types() == set(), "registry types without a schema"
    assert chat_contracts.known_types() - set(listed) == set(), "schemas missing from the registry"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["type"] for e in ENTRIES])
def test_entry_is_well_formed(entry: dict[str, Any]) -> None:
    assert set(entry) <= {"type", *ROLES}
    assert entry["producers"], f"{entry['type']}: nobody produces it"
    assert entry["consumers"], f"{entry['type']}: nobody consumes it"
    for role in ROLES:
        for user in entry.get(role, []):
            assert set(user) == {"service", "module"}
            assert user["service"] in SERVICES, f"unknown service {user['service']}"
            if SERVICES[user["service"]]["language"] == "python":
                package = SERVICES[user["service"]]["package"]
                assert _covers(package, user["module"]), f"{user['module']} is not in {package}"


def test_registry_follows_the_architecture_table() -> None:
    def services(type_name: str, role: str) -> set[str]:
        entry = next(e for e in ENTRIES if e["type"] == type_name)
        return {u["service"] for u in entry[role]}

    gateway_publishes = {
        "message.send.v1",
        "room.read.v1",
        "typing.v1",
        "presence.connection.opened.v1",
        "presence.connection.updated.v1",
        "presence.connection.closed.v1",
        "presence.gateway.heartbeat.v1",
        "membership.query.v1",
    }
    gateway_consumes = {
        "message.created.v1",
        "message.accepted.v1",
        "message.rejected.v1",
        "member_joined.v1",
        "member_left.v1",
        "read.v1",
        "typing.v1",
        "room.joined.v1",
        "room.left.v1",
        "presence.changed.v1",
        "auth.session.revoked.v1",
        "membership.reply.v1",
    }
    message_publishes = {
        "message.created.v1",
        "message.accepted.v1",
        "message.rejected.v1",
        "member_joined.v1",
        "member_left.v1",
        "read.v1",
        "room.joined.v1",
        "room.left.v1",
        "membership.reply.v1",
    }
    message_consumes = {
        "message.send.v1",
        "room.read.v1",
        "membership.query.v1",
        "auth.user.registered.v1",
    }
    for t in gateway_publishes:
        assert "gateway-service" in services(t, "producers"), t
    for t in gateway_consumes:
        assert "gateway-service" in services(t, "consumers"), t
    for t in message_publishes:
        assert "message-service" in services(t, "producers"), t
    for t in message_consumes:
        assert "message-service" in services(t, "consumers"), t
    for t in ("auth.user.registered.v1", "auth.session.revoked.v1", "auth.revocations.reply.v1"):
        assert "auth-service" in services(t, "producers"), t
    assert "auth-service" in services("auth.revocations.query.v1", "consumers")
    assert "chat-runtime" in services("auth.revocations.query.v1", "producers")
    assert "presence-service" in services("presence.changed.v1", "producers")
    for t in (
        "presence.connection.opened.v1",
        "presence.connection.updated.v1",
        "presence.connection.closed.v1",
        "presence.gateway.heartbeat.v1",
    ):
        assert "presence-service" in services(t, "consumers"), t


# -- (c) the code against the registry ------------------------------------------------------


def test_scanner_finds_type_names_the_ways_code_writes_them() -> None:
    source = '''
"""Module docstring naming message.created.v1 is prose, not use."""
A = "presence.changed.v1"
B = f"room.{room_id}.message.created.v1"
C = "user.{}.room.joined.v1".format(uid)
D = f"message.send.v1.{shard}"
E = "chat.v1"
F = "/v1/rooms"
G = f"ws.client.{kind}.v1"
log.info("published member_left.v1 to the room")
'''
    assert names_in_source(source) == {
        "presence.changed.v1",
        "message.created.v1",
        "room.joined.v1",
        "message.send.v1",
        "chat.v1",
    }


def test_scanner_finds_types_named_through_chat_contracts() -> None:
    source = """
import chat_contracts
import chat_contracts.names as n
from chat_contracts import names, types as t
from chat_contracts.names import TYPING_V1 as TYPING
from chat_contracts.types import Message, RoomJoinedV1

A = names.PRESENCE_CHANGED_V1
B = t.MessageAcceptedV1(client_msg_id=c, message=Message(**m))
C = chat_contracts.types.WsServerPongV1(type="pong")
D = names.read_routing_key(shard)
E = n.room_key(room_id, n.MEMBER_JOINED_V1)
F = (names.AUTH_QUERY_QUEUE, names.EXCHANGE_EVENTS, t.Message, t.ErrorCode, t.STRUCTS)
def handle(envelope: Envelope[t.ReadV1]) -> None: ...
"""
    assert names_in_source(source) == {
        "typing.v1",
        "room.joined.v1",
        "presence.changed.v1",
        "message.accepted.v1",
        "ws.server.pong.v1",
        "room.read.v1",
        "member_joined.v1",
        "read.v1",
    }


def test_scanner_finds_hand_typed_wire_names() -> None:
    source = '''
"""Docstrings may say chat.events, `gateway.<id>` and message-service.send.3."""
OK = [
    "chat.v1", "/v1/ws", "gateway.started", "room.member_joined", "x-dead-letter-exchange",
    "queue dead on chat.dlx", f"presence-sim.changes.{suffix}", "chat.frame_writer", "v1",
]
BAD_1 = "presence.changed.v1"
BAD_2 = f"ws.client.{kind}.v1"
BAD_3 = "chat.events"
BAD_4 = "auth-service.query"
BAD_5 = f"message-service.send.{shard}"
BAD_6 = "message-service.read.0"
BAD_7 = f"gateway.{gateway_id}"
BAD_8 = "gateway." + gateway_id
BAD_9 = f"{name}.dead"
BAD_10 = name + ".dead"
BAD_11 = f"room.{room_id}.#"
BAD_12 = "user.%s.*" % user_id
BAD_13 = "presence-service.signals"
BAD_14 = "amq.rabbitmq.reply-to"
'''
    found = wire_literals(source)
    assert [line for line, _, _ in found] == list(range(7, 21)), found
    instead = {literal: use for _, literal, use in found}
    assert instead["presence.changed.v1"] == "names.PRESENCE_CHANGED_V1"
    assert instead["chat.events"] == "names.EXCHANGE_EVENTS"
    assert instead["gateway.{…}"] == "names.gateway_queue()"
    assert instead["{…}.dead"] == "names.dead_queue()"
    assert instead["user.{…}.{…}"] == "names.user_key()"


def test_listed_modules_exist() -> None:
    """A renamed or deleted module fails here instead of silently dropping out of the scan."""
    missing = []
    for entry in ENTRIES:
        for role in ROLES:
            for user in entry.get(role, []):
                service, module = SERVICES[user["service"]], user["module"]
                if service["language"] != "python":
                    exists = (REPO / module).exists()
                else:
                    exists = any(_covers(module, m) for m in modules_of(user["service"]))
                if not exists:
                    missing.append(f"{entry['type']} {role}: {user['service']} {module}")
    assert not missing, "listed in contracts/registry.yaml but not found:\n" + "\n".join(missing)


@pytest.mark.parametrize("service", PYTHON_SERVICES)
def test_modules_use_only_registered_types(service: str) -> None:
    modules = modules_of(service)
    assert modules, f"{service}: no Python sources at {SERVICES[service]['src']}"
    listed = listed_modules()
    problems = []
    for module, named in sorted(modules.items()):
        for name in sorted(named):
            if name in NOT_CONTRACTS:
                continue
            if not chat_contracts.is_known(name):
                problems.append(
                    f"{module} names {name!r}, which has no schema in contracts/schemas"
                )
            elif not any(_covers(m, module) for m in listed.get((name, service), set())):
                problems.append(
                    f"{module} names {name!r} but contracts/registry.yaml does not list it there"
                )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["type"] for e in ENTRIES])
def test_listed_modules_name_their_type(entry: dict[str, Any]) -> None:
    """The registry is not stale: each Python module listed in any role names the type (a
    producer builds its struct, a consumer dispatches on its name or decodes its struct, a router
    binds its key)."""
    problems = []
    for role in ROLES:
        for user in entry.get(role, []):
            if SERVICES[user["service"]]["language"] != "python":
                continue
            modules = modules_of(user["service"])
            covered = [m for m in modules if _covers(user["module"], m)]
            if covered and not any(entry["type"] in modules[m] for m in covered):
                problems.append(f"{role}: {user['module']} does not name {entry['type']}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("service", WIRE_NAME_FREE)
def test_no_wire_name_is_typed_by_hand(service: str) -> None:
    """Every exchange, queue, routing key and type name comes from chat_contracts.names."""
    found = [
        f"{path.relative_to(REPO)}:{line}: {literal!r} (use {instead})"
        for _, path in _sources(service)
        for line, literal, instead in wire_literals(path.read_text(encoding="utf-8"))
    ]
    assert not found, "wire names typed by hand:\n" + "\n".join(found)


# -- (d) producers' examples satisfy consumers' expectations ------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["type"] for e in ENTRIES])
def test_each_registered_type_has_a_valid_example(entry: dict[str, Any]) -> None:
    valid = examples(entry["type"], valid=True)
    assert valid, f"{entry['type']}: no fixtures/.../valid example"
    # Producer and consumer share one schema per type; the example is what both sides agree on.
    for example in valid:
        chat_contracts.validate(entry["type"], example.body)


# -- (e) every consumer is a tolerant reader (api-v1.1 preamble item 1) ---------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["type"] for e in ENTRIES])
def test_every_consumed_type_has_a_newer_producers_example_its_consumers_read(
    entry: dict[str, Any],
) -> None:
    """Each consumed type has `valid/tolerant_unknown_fields.json` (every object of a valid
    example with a field no release defines) and the decoder every Python consumer reads
    through (`chat_contracts.decode`, in the runtime's consumer) accepts it; the frontend's
    reader is proven on the same files by frontend/src/realtime's tests."""
    if not entry.get("consumers"):
        pytest.skip(f"{entry['type']} has no consumer")
    tolerant = [e for e in examples(entry["type"], valid=True) if e.name.startswith("tolerant_")]
    assert any(e.name == "tolerant_unknown_fields" for e in tolerant), entry["type"]
    for example in tolerant:
        raw = json.dumps(example.body).encode()
        decoded = chat_contracts.decode(entry["type"], raw)
        assert chat_contracts.contract_of(decoded) == entry["type"]
        chat_contracts.validate(entry["type"], example.body)
