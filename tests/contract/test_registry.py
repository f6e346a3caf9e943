"""contracts/registry.yaml against the schemas and against the code.

(b) every known type is in the registry and vice versa; (c) a static scan of the services' and the
runtime's Python sources: a module that names a type (a ``"<dotted>.v1"`` string literal, also as
a piece of a routing key like ``f"room.{id}.message.created.v1"``) must be listed against it, and
the type must have a schema; modules not written yet are skipped with a reason; (d) every type has
a valid example that its consumers' schema accepts (one schema per type, so: one valid example).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import chat_contracts
import pytest
import yaml
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

TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\.v1")
# Placeholders and wildcards that split a routing key into pieces: {x}, %s, *, #.
PLACEHOLDER = re.compile(r"\{[^}]*\}|%[sdr]|[*#]")
# Literals that look like type names but are not bus/frame contracts.
NOT_CONTRACTS = {"chat.v1": "the WebSocket subprotocol (api-v1 §6)"}


# -- scanning --------------------------------------------------------------------------------


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _pieces(tree: ast.AST) -> Iterator[list[str]]:
    """The constant text of each string literal (an f-string gives its constant pieces)."""
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [
                v.value
                for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            ]
            skip.update(id(v) for v in node.values)
            yield parts
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        ):
            yield [node.value]


def names_in_source(source: str) -> set[str]:
    """Type names a module's string literals mention (prose — anything with spaces — excluded)."""
    found: set[str] = set()
    for parts in _pieces(ast.parse(source)):
        if any(re.search(r"\s", p) for p in parts):
            continue
        for part in parts:
            for piece in PLACEHOLDER.split(part):
                piece = piece.strip(".")
                if TYPE_NAME.fullmatch(piece):
                    found.add(piece)
    return found


@cache
def modules_of(service: str) -> dict[str, set[str]]:
    """Module name → type names it mentions, for one Python service (empty if not written yet)."""
    src = REPO / SERVICES[service]["src"]
    out: dict[str, set[str]] = {}
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = names_in_source(path.read_text(encoding="utf-8"))
    return out


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
    names = [e["type"] for e in ENTRIES]
    assert len(names) == len(set(names)), "a type is listed twice"
    assert set(names) - chat_contracts.known_types() == set(), "registry types without a schema"
    assert chat_contracts.known_types() - set(names) == set(), "schemas missing from the registry"


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


@pytest.mark.parametrize("service", PYTHON_SERVICES)
def test_modules_use_only_registered_types(service: str) -> None:
    modules = modules_of(service)
    if not modules:
        pytest.skip(f"{service}: no Python sources at {SERVICES[service]['src']} yet")
    listed = listed_modules()
    problems = []
    for module, names in sorted(modules.items()):
        for name in sorted(names):
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


def _producer_pairs() -> list[tuple[str, str]]:
    pairs = set()
    for entry in ENTRIES:
        for user in entry["producers"]:
            # Frames are named by their short `type` in code ("message.send"): not scanned.
            python = SERVICES[user["service"]]["language"] == "python"
            if python and not entry["type"].startswith("ws."):
                pairs.add((entry["type"], user["service"]))
    return sorted(pairs)


PAIRS = _producer_pairs()


@pytest.mark.parametrize(("type_name", "service"), PAIRS, ids=[f"{t}@{s}" for t, s in PAIRS])
def test_registered_producers_name_the_type(type_name: str, service: str) -> None:
    """The registry is not stale: a producer publishes by name, so a listed module names it.

    Only producers: a consumer may take a type without naming it (a batch handler on ``"*"``, the
    reply of a request).
    """
    listed = {
        user["module"]
        for entry in ENTRIES
        if entry["type"] == type_name
        for user in entry["producers"]
        if user["service"] == service
    }
    modules = modules_of(service)
    present = {m for m in modules if any(_covers(entry, m) for entry in listed)}
    if not present:
        pytest.skip(f"{service}: {', '.join(sorted(listed))} not written yet")
    named = set().union(*(modules[m] for m in present))
    assert type_name in named, f"{service}: none of {sorted(present)} names {type_name}"


# -- (d) producers' examples satisfy consumers' expectations ------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["type"] for e in ENTRIES])
def test_each_registered_type_has_a_valid_example(entry: dict[str, Any]) -> None:
    valid = examples(entry["type"], valid=True)
    assert valid, f"{entry['type']}: no fixtures/.../valid example"
    # Producer and consumer share one schema per type; the example is what both sides agree on.
    for example in valid:
        chat_contracts.validate(entry["type"], example.body)
