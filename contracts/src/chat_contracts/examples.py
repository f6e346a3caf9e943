"""The committed example bodies (``contracts/fixtures``), for tests of producers and consumers.

Layout: ``fixtures/bus/<type>/{valid,invalid}/<name>.json`` and
``fixtures/ws/{client,server}/<type>.v1/{valid,invalid}/<name>.json``. Committed v1 examples are
forever: ``tests/contract`` checks that each still validates as labelled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["Example", "examples", "fixtures_root", "type_name_of_dir"]


@dataclass(frozen=True, slots=True)
class Example:
    type_name: str
    valid: bool
    name: str
    path: str  # relative to the fixtures directory
    body: object


def fixtures_root() -> Traversable:
    """``chat_contracts/fixtures`` in a wheel; the repository's ``contracts/fixtures`` otherwise."""
    packaged = resources.files("chat_contracts") / "fixtures"
    if packaged.is_dir():
        return packaged
    repo = Path(__file__).resolve().parents[2] / "fixtures"
    if repo.is_dir():
        return repo
    raise RuntimeError(f"chat_contracts: fixtures not found in the package nor at {repo}")


def type_name_of_dir(parts: tuple[str, ...]) -> str | None:
    """``("bus", "read.v1")`` → ``read.v1``; ``("ws","client","ping.v1")`` → ``ws.client.ping.v1``.

    None for directories outside that layout.
    """
    if len(parts) == 2 and parts[0] == "bus":
        return parts[1]
    if len(parts) == 3 and parts[0] == "ws" and parts[1] in ("client", "server"):
        return f"ws.{parts[1]}.{parts[2]}"
    return None


def _dirs(node: Traversable, prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Traversable]]:
    found = [(prefix, node)]
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            found.extend(_dirs(child, (*prefix, child.name)))
    return found


@cache
def _all() -> tuple[Example, ...]:
    out: list[Example] = []
    for parts, node in _dirs(fixtures_root(), ()):
        if not parts or parts[-1] not in ("valid", "invalid"):
            continue
        type_name = type_name_of_dir(parts[:-1])
        if type_name is None:
            raise RuntimeError(f"fixtures/{'/'.join(parts)} is not under a known layout")
        for file in sorted(node.iterdir(), key=lambda c: c.name):
            if not file.name.endswith(".json"):
                continue
            out.append(
                Example(
                    type_name=type_name,
                    valid=parts[-1] == "valid",
                    name=file.name.removesuffix(".json"),
                    path="/".join((*parts, file.name)),
                    body=json.loads(file.read_text(encoding="utf-8")),
                )
            )
    return tuple(out)


def examples(type_name: str | None = None, *, valid: bool | None = None) -> tuple[Example, ...]:
    """Every committed example, or those of one type and/or validity."""
    return tuple(
        e
        for e in _all()
        if (type_name is None or e.type_name == type_name) and (valid is None or e.valid == valid)
    )
